namespace GitHubActionsPort.Protocol.Tunnels;

/// <summary>How one direction of a tunnel ended.</summary>
public enum CopyResult
{
    /// <summary>The input ended cleanly and the end was passed on.</summary>
    Completed,

    /// <summary>Reading the input failed (a reset, an error status, a protocol violation).</summary>
    InputError,

    /// <summary>Writing the output failed.</summary>
    OutputError,

    /// <summary>The copy was cancelled before its input ended.</summary>
    Canceled,
}
