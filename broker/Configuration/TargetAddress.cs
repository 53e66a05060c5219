namespace GitHubActionsPort.Broker.Configuration;

/// <summary>Where a named target lives. Only the broker's configuration says this; never a client.</summary>
public sealed record TargetAddress(string Host, int Port)
{
    public override string ToString() => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
}
