namespace GitHubActionsPort.Harness.Bench.Scenarios;

/// <summary>Which way the bytes of a throughput scenario flow, seen from the client (the CI job).</summary>
internal enum TransferDirection
{
    /// <summary>Client to target.</summary>
    Upload,

    /// <summary>Target to client.</summary>
    Download,
}
