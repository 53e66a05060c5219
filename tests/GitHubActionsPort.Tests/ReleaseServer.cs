using System.Collections.Concurrent;
using GitHubActionsPort.Broker.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace GitHubActionsPort.Tests;

/// <summary>
/// A stand-in for GitHub releases on 127.0.0.1:0 (real Kestrel): serves real files from disk at the paths a test
/// names, answers 302 where a test says (as github.com does, to its storage host), any status a test
/// chooses, 404 anywhere else, and records
/// every request path in order.
/// </summary>
internal sealed class ReleaseServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, string> _files = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _redirects = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _failures = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _requests = new();

    private ReleaseServer(WebApplication app) => _app = app;

    /// <summary>The server's root, e.g. <c>http://127.0.0.1:41234</c> (no trailing slash).</summary>
    public string Root => _app.Addresses()[0].GetLeftPart(UriPartial.Authority);

    /// <summary>Every request path so far, in the order they came.</summary>
    public IReadOnlyList<string> Requests => [.. _requests];

    public static async Task<ReleaseServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var server = new ReleaseServer(app);
        app.Run(server.HandleAsync);
        await app.StartAsync().DefaultTimeout();
        return server;
    }

    /// <summary>Serves <paramref name="file"/> (its bytes as they are on disk when asked) at <paramref name="path"/>.</summary>
    public void Serve(string path, string file) => _files[path] = file;

    /// <summary>Answers 302 with <c>Location: <paramref name="to"/></c> at <paramref name="path"/>.</summary>
    public void Redirect(string path, string to) => _redirects[path] = to;

    /// <summary>Answers <paramref name="statusCode"/> with no body at <paramref name="path"/>.</summary>
    public void Fail(string path, int statusCode) => _failures[path] = statusCode;

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().WithTimeout(TaskTimeouts.Default);
        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "";
        _requests.Enqueue(path);
        if (_redirects.TryGetValue(path, out var to))
        {
            context.Response.Redirect(to);
            return;
        }

        if (_failures.TryGetValue(path, out var statusCode))
        {
            context.Response.StatusCode = statusCode;
            return;
        }

        if (!_files.TryGetValue(path, out var file))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            await context.Response.WriteAsync("Not Found");
            return;
        }

        context.Response.ContentType = "application/octet-stream";
        context.Response.ContentLength = new FileInfo(file).Length;
        await context.Response.SendFileAsync(file);
    }
}
