namespace GitHubActionsPort.Harness;

/// <summary>One harness command, its options already parsed.</summary>
internal interface IHarnessCommand
{
    /// <summary>
    /// Runs to the end and stops everything it started. Returns false after printing why it failed; throws
    /// <see cref="OperationCanceledException"/> only when <paramref name="stopping"/> fired.
    /// </summary>
    Task<bool> RunAsync(CancellationToken stopping);
}
