namespace GitHubActionsPort.Broker.Configuration;

/// <summary>The configuration is unusable; each error names the key and what is wrong with it.</summary>
public sealed class BrokerConfigurationException(IReadOnlyList<string> errors)
    : Exception("The broker configuration is invalid:" + Environment.NewLine + string.Join(Environment.NewLine, errors.Select(e => "  " + e)))
{
    public IReadOnlyList<string> Errors { get; } = errors;
}
