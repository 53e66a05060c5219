namespace GitHubActionsPort.Broker.Admin;

/// <summary>
/// The admin server's host lifetime: none of its own. The broker's host owns signals and start/stop messages; a
/// second console lifetime would answer Ctrl+C by itself and print "Application started" twice.
/// </summary>
internal sealed class AdminHostLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
