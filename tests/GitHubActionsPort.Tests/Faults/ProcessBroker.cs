using System.Diagnostics;

namespace GitHubActionsPort.Tests.Faults;

/// <summary>
/// <c>ghaport-broker</c> as a real child process, configured by a JSON file in a temp folder of its own (the folder
/// also holds its audit trail): it can be killed without warning (SIGKILL) and started again at the same address,
/// and its memory can be measured apart from the test's.
/// </summary>
internal sealed class ProcessBroker : IAsyncDisposable
{
    private readonly DirectoryInfo _folder;
    private readonly string _configFile;
    private ChildProcess _process;

    private ProcessBroker(DirectoryInfo folder, string configFile, ChildProcess process, Uri address, Uri rawLaneAddress)
    {
        _folder = folder;
        _configFile = configFile;
        _process = process;
        Address = address;
        RawLaneAddress = rawLaneAddress;
    }

    public Uri Address { get; }

    /// <summary>Where the raw lane listens; a restart listens there again, as a broker with a configured port would.</summary>
    public Uri RawLaneAddress { get; }

    /// <summary>The process id of the broker running now.</summary>
    public int Id => _process.Id;

    /// <summary>The broker process running now: its output, a signal to send it, its exit.</summary>
    public ChildProcess Child => _process;

    public string AuditPath => Path.Combine(_folder.FullName, "audit", "audit.jsonl");

    /// <summary>Starts a broker at <c>http://127.0.0.1:0</c> (a port from the OS) and waits until it listens.</summary>
    public static async Task<ProcessBroker> StartAsync(IReadOnlyDictionary<string, string?> configuration)
    {
        var folder = Directory.CreateTempSubdirectory("ghaport-broker-process-");
        try
        {
            var configFile = Path.Combine(folder.FullName, "broker.json");
            await File.WriteAllTextAsync(configFile, ConfigFileBroker.ToJson(configuration));
            var auditPath = Path.Combine(folder.FullName, "audit", "audit.jsonl");
            var process = Launch(configFile, auditPath, "http://127.0.0.1:0", "http://127.0.0.1:0");
            try
            {
                var address = await ListeningAsync(process);
                return new ProcessBroker(folder, configFile, process, address, await RawLaneAsync(process));
            }
            catch
            {
                await process.DisposeAsync();
                throw;
            }
        }
        catch
        {
            folder.Delete(recursive: true);
            throw;
        }
    }

    /// <summary>Kills the broker with SIGKILL (no shutdown of any kind) and waits until it is gone.</summary>
    public async Task KillAsync()
    {
        using (var process = Process.GetProcessById(_process.Id))
        {
            // On Unix, Process.Kill sends SIGKILL.
            process.Kill();
        }

        await _process.WaitForExitAsync();
    }

    /// <summary>Starts a new broker process at the same address (after <see cref="KillAsync"/>) and waits until it listens.</summary>
    public async Task RestartAsync()
    {
        await _process.DisposeAsync();
        _process = Launch(_configFile, AuditPath, Address.GetLeftPart(UriPartial.Authority), RawLaneAddress.GetLeftPart(UriPartial.Authority));
        var address = await ListeningAsync(_process);
        Assert.That(address, Is.EqualTo(Address), "the restarted broker listens where the first one did");
        Assert.That(await RawLaneAsync(_process), Is.EqualTo(RawLaneAddress), "and so does its raw lane");
    }

    /// <summary>Everything the broker process printed, for a failure message.</summary>
    public string Describe() => _process.Describe();

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync();
        _folder.Delete(recursive: true);
    }

    private static ChildProcess Launch(string configFile, string auditPath, string url, string rawLaneUrl) =>
        BrokerProcess.Start(["--config", configFile, "--urls", url], new Dictionary<string, string?> { ["Broker__Audit__Path"] = auditPath, ["Broker__Lanes__Raw__Url"] = rawLaneUrl });

    private static async Task<Uri> RawLaneAsync(ChildProcess process)
    {
        var line = await process.WaitForOutputAsync(l => l.StartsWith("raw-lane ", StringComparison.Ordinal));
        return new Uri(line["raw-lane ".Length..]);
    }

    private static async Task<Uri> ListeningAsync(ChildProcess process)
    {
        var line = await process.WaitForOutputAsync(l => l.StartsWith("listening ", StringComparison.Ordinal));
        return new Uri(line["listening ".Length..]);
    }
}
