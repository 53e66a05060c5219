using Microsoft.Extensions.Logging.Abstractions;

namespace GitHubActionsPort.Broker.Admin;

/// <summary>
/// The broker's logger factory as the admin server sees it: the same providers and filters, minus the hosting
/// lifetime's records (its "Now listening on" would read as the broker's own address; the endpoint logs its own).
/// </summary>
internal sealed class AdminLoggerFactory(ILoggerFactory broker) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) =>
        categoryName.StartsWith("Microsoft.Hosting", StringComparison.Ordinal) ? NullLogger.Instance : broker.CreateLogger(categoryName);

    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException("the admin server logs through the broker's providers");

    // The broker's host owns the factory it wraps.
    public void Dispose()
    {
    }
}
