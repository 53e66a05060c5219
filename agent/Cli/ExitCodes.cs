namespace GitHubActionsPort.Agent.Cli;

/// <summary>The documented exit codes of <c>ghaport</c>; each names one cause a job can act on.</summary>
public static class ExitCodes
{
    /// <summary>Stopped on request (Ctrl-C, SIGTERM) after closing every tunnel.</summary>
    public const int Ok = 0;

    /// <summary>An unexpected failure; the message says what happened.</summary>
    public const int Failure = 1;

    /// <summary>The command line is wrong (unknown flag, bad <c>--forward</c>, bad URL).</summary>
    public const int Usage = 2;

    /// <summary>No id-token could be had (no <c>id-token: write</c> permission, missing file or variable).</summary>
    public const int IdTokenUnavailable = 3;

    /// <summary>The broker could not be reached or did not answer.</summary>
    public const int BrokerUnreachable = 4;

    /// <summary>The broker rejected the id-token (expired, wrong audience, untrusted issuer, bad signature).</summary>
    public const int TokenRejected = 5;

    /// <summary>The broker's policy does not permit a requested target (unknown and forbidden alike).</summary>
    public const int TargetDenied = 6;

    /// <summary>A local address could not be listened on (port in use, address not on this machine).</summary>
    public const int CannotListen = 7;

    /// <summary>The lease ended (expired or revoked); open a new session.</summary>
    public const int LeaseEnded = 8;

    /// <summary>Not ready: a probe through the broker failed, or <c>--detach</c> waited past <c>--timeout</c>.</summary>
    public const int NotReady = 9;
}
