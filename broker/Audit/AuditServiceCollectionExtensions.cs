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
        services.AddSingleton<RefusalAggregator>();
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

        if (section["MaxFiles"] is { } filesText)
        {
            if (int.TryParse(filesText, NumberStyles.None, CultureInfo.InvariantCulture, out var files) && files != 1)
            {
                options = options with { MaxFiles = files };
            }
            else
            {
                errors.Add($"Broker:Audit:MaxFiles: '{filesText}' is not 0 (no limit) or a whole number of at least 2 (the current file and one rotated).");
            }
        }

        if (section["MaxTotalBytes"] is { } totalText)
        {
            if (long.TryParse(totalText, NumberStyles.None, CultureInfo.InvariantCulture, out var total) && (total == 0 || total >= options.MaxFileBytes))
            {
                options = options with { MaxTotalBytes = total };
            }
            else
            {
                errors.Add($"Broker:Audit:MaxTotalBytes: '{totalText}' is not 0 (no limit) or a whole number of at least Broker:Audit:MaxFileBytes ({options.MaxFileBytes}).");
            }
        }

        if (section["RefusalInterval"] is { } intervalText)
        {
            if (TimeSpan.TryParse(intervalText, CultureInfo.InvariantCulture, out var interval) && interval >= TimeSpan.FromSeconds(1) && interval <= TimeSpan.FromHours(1))
            {
                options = options with { RefusalInterval = interval };
            }
            else
            {
                errors.Add($"Broker:Audit:RefusalInterval: '{intervalText}' is not a duration from 00:00:01 to 01:00:00.");
            }
        }

        if (section["MaxRefusalGroups"] is { } groupsText)
        {
            if (int.TryParse(groupsText, NumberStyles.None, CultureInfo.InvariantCulture, out var groups) && groups is >= 1 and <= 100_000)
            {
                options = options with { MaxRefusalGroups = groups };
            }
            else
            {
                errors.Add($"Broker:Audit:MaxRefusalGroups: '{groupsText}' is not a whole number from 1 to 100000.");
            }
        }

        if (errors.Count > 0)
        {
            throw new BrokerConfigurationException(errors);
        }

        return options;
    }
}
