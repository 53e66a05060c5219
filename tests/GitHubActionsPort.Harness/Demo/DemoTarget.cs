namespace GitHubActionsPort.Harness.Demo;

/// <summary>What the demo tunnels to (<c>--target</c>).</summary>
internal enum DemoTarget
{
    /// <summary>PostgreSQL when it is installed, else the echo server.</summary>
    Auto,

    /// <summary>PostgreSQL, or fail when it is not installed.</summary>
    Postgres,

    /// <summary>The echo server only, even when PostgreSQL is installed.</summary>
    Echo,
}
