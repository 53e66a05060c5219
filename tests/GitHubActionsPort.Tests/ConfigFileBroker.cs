using System.Text.Json;
using GitHubActionsPort.Broker.Hosting;
using Microsoft.AspNetCore.Builder;

namespace GitHubActionsPort.Tests;

/// <summary>
/// A real broker in-process on 127.0.0.1:0 whose configuration is a JSON file on disk (its own temp folder), as a
/// deployment's <c>--config</c> file: a test rewrites the file and waits for the broker to say what it made of it.
/// </summary>
public sealed class ConfigFileBroker : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly DirectoryInfo _folder;

    private ConfigFileBroker(WebApplication app, DirectoryInfo folder, string path, LogSink logs)
    {
        _app = app;
        _folder = folder;
        FilePath = path;
        Logs = logs;
        Address = app.Addresses()[0];
    }

    public Uri Address { get; }

    public LogSink Logs { get; }

    public string FilePath { get; }

    public static async Task<ConfigFileBroker> StartAsync(IReadOnlyDictionary<string, string?> configuration)
    {
        var folder = Directory.CreateTempSubdirectory("ghaport-policy-");
        var path = Path.Combine(folder.FullName, "broker.json");
        await File.WriteAllTextAsync(path, ToJson(configuration));
        var logs = new LogSink { Echo = TestContext.Progress };
        var audit = BrokerUnderTest.TempAuditPath();
        var app = BrokerHost.Build(
            ["--urls", "http://127.0.0.1:0"],
            configFiles: [path],
            overrides: new Dictionary<string, string?> { ["Broker:Admin:Url"] = "http://127.0.0.1:0", ["Broker:Audit:Path"] = audit, ["Broker:Store:Path"] = BrokerUnderTest.TempStorePath(audit), ["Broker:Metrics:Url"] = "http://127.0.0.1:0" },
            logging: logging =>
            {
                logging.ClearProviders();
                logging.AddProvider(logs);
                logging.SetMinimumLevel(LogLevel.Debug);
            });
        await app.StartAsync().DefaultTimeout();
        return new ConfigFileBroker(app, folder, path, logs);
    }

    /// <summary>
    /// Replaces the file in one step, as a careful deployment tool does (write aside, then rename over), and
    /// waits for the first log record after it that <paramref name="until"/> accepts.
    /// </summary>
    public Task<LogEntry> RewriteAsync(IReadOnlyDictionary<string, string?> configuration, Func<LogEntry, bool> until) =>
        RewriteTextAsync(ToJson(configuration), until);

    public async Task<LogEntry> RewriteTextAsync(string text, Func<LogEntry, bool> until)
    {
        ArgumentNullException.ThrowIfNull(until);
        var before = new HashSet<LogEntry>(Logs.Entries, ReferenceEqualityComparer.Instance);
        var aside = FilePath + "." + Guid.NewGuid().ToString("N") + ".tmp";
        await File.WriteAllTextAsync(aside, text);
        File.Move(aside, FilePath, overwrite: true);
        return await Logs.WaitForAsync(e => !before.Contains(e) && until(e)).DefaultTimeout();
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().WithTimeout(TaskTimeouts.Default);
        await _app.DisposeAsync();
        _folder.Delete(recursive: true);
    }

    /// <summary>Flat configuration keys as the nested JSON a deployment's file holds.</summary>
    public static string ToJson(IReadOnlyDictionary<string, string?> configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var root = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var (key, value) in configuration)
        {
            var parts = key.Split(':');
            var node = root;
            foreach (var part in parts[..^1])
            {
                if (!node.TryGetValue(part, out var child))
                {
                    child = new Dictionary<string, object>(StringComparer.Ordinal);
                    node[part] = child;
                }

                node = (Dictionary<string, object>)child;
            }

            node[parts[^1]] = value ?? string.Empty;
        }

        return JsonSerializer.Serialize(root);
    }
}
