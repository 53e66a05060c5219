using Grpc.Core;

namespace GitHubActionsPort.Agent.Forwarding;

/// <summary>Turns gRPC failures into the one-line causes the agent prints.</summary>
internal static class RpcErrors
{
    /// <summary>
    /// The broker's own words when it sent any; for a transport failure (broker down, connection lost) the
    /// cause the HTTP stack saw, which sits in the status's debug exception.
    /// </summary>
    public static string Describe(Status status) =>
        status.DebugException is { } cause ? $"{Fallback(status)} ({Innermost(cause).Message})" : Fallback(status);

    public static Exception Innermost(Exception ex)
    {
        ArgumentNullException.ThrowIfNull(ex);
        while (ex.InnerException is not null)
        {
            ex = ex.InnerException;
        }

        return ex;
    }

    private static string Fallback(Status status) => string.IsNullOrEmpty(status.Detail) ? status.StatusCode.ToString() : status.Detail;
}
