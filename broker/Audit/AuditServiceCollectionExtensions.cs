using System.Globalization;
using GitHubActionsPort.Broker.Configuration;
using GitHubActionsPort.Protocol;

namespace GitHubActionsPort.Broker.Audit;

/// <summary>Registers the audit trail from <c>Broker:Audit</c>.</summary>
internal static class AuditServiceCollectionExtensions
{
    public static IServiceCollection AddBrokerAudit(this IServiceCollection services, IConfiguration configuration)
    {
        var options = ReadOptions(configuration);
        services.AddSingleton(options);
        services.AddSingleton<AuditLog>();
        services.AddSingleton<AuditTrail>();
        return services;
    }

    /// <summary>The trail's settings; a bad value stops start-up naming its key.</summary>
    public static AuditOptions ReadOptions(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var section = configuration.GetSection("Broker:Audit");
        var errors = new List<string>();
        var path = section["Path"] is { Length: > 0 } configured
            ? Path.GetFullPath(configured)
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "ghaport-broker", "audit.jsonl");
        var options = new AuditOptions { Path = path };
        if (section["MaxFileBytes"] is { } maxText)
        {
            if (long.TryParse(maxText, NumberStyles.None, CultureInfo.InvariantCulture, out var max) && max >= 4096)
            {
                options = options with { MaxFileBytes = max };
            }
            else
            {
                errors.Add($"Broker:Audit:MaxFileBytes: '{maxText}' is not a whole number of at least 4096.");
            }
        }

        if (section["GroupCommitWindow"] is { } windowText)
        {
            if (DurationText.TryParse(windowText, out var window, out _) && window <= TimeSpan.FromSeconds(1))
            {
                options = options with { GroupCommitWindow = window };
            }
            else
            {
                errors.Add($"Broker:Audit:GroupCommitWindow: '{windowText}' is not a duration from 0 to 1s (for example 2ms, or 00:00:00.002).");
            }
        }

        if (errors.Count > 0)
        {
            throw new BrokerConfigurationException(errors);
        }

        return options;
    }
}
