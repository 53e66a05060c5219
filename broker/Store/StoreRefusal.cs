using Grpc.Core;

namespace GitHubActionsPort.Broker.Store;

/// <summary>
/// The refusal every call hears when what it needs from the state store cannot be had (fail closed): the cause, and
/// that it is the broker's trouble, worth retrying, not the job's.
/// </summary>
internal static class StoreRefusal
{
    public static Status Status(StoreUnavailableException unavailable)
    {
        ArgumentNullException.ThrowIfNull(unavailable);
        return new Status(StatusCode.Unavailable, $"the broker's state store is unreachable ({Cause(unavailable)}); try again later");
    }

    public static RpcException Exception(StoreUnavailableException unavailable) => new(Status(unavailable), unavailable.Message);

    /// <summary>The store's own words: the driver's error when there is one, else the store's message.</summary>
    public static string Cause(StoreUnavailableException unavailable)
    {
        ArgumentNullException.ThrowIfNull(unavailable);
        return unavailable.InnerException?.Message is { Length: > 0 } inner ? inner : unavailable.Message;
    }
}
