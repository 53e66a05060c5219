using System.Globalization;
using System.Net;
using GitHubActionsPort.Broker.Policy;
using GitHubActionsPort.Protocol;

namespace GitHubActionsPort.Broker.Configuration;

/// <summary>
/// Reads the <c>Broker</c> section into a <see cref="BrokerSettings"/> snapshot, collecting every problem with
/// the key it belongs to, so one start-up attempt reports them all.
/// </summary>
public static class BrokerSettingsReader
{
    public const string SectionName = "Broker";

    /// <summary>Longest duration any key takes; timers cannot run much past 49 days, and no lease should.</summary>
    private static readonly TimeSpan MaxDuration = TimeSpan.FromDays(30);

    private static readonly string[] RuleKeys = ["Name", "Issuer", "Targets", "Claims", "NotClaims", "MaxTtl", "MaxConnections"];
    private static readonly string[] TargetKeys = ["Address", "AllowPrivateAddresses"];

    public static BrokerSettings Read(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var section = configuration.GetSection(SectionName);
        var errors = new List<string>();

        var targets = ReadTargets(section.GetSection("Targets"), errors);
        var issuers = ReadIssuers(section.GetSection("Issuers"), errors);
        var requireIssuers = ReadBool(section, "RequireRuleIssuers", false, errors);
        var settings = new BrokerSettings
        {
            Issuers = issuers,
            Targets = targets,
            Rules = ReadRules(section.GetSection("Rules"), issuers, targets, requireIssuers, errors),
            Leases = ReadLeases(section.GetSection("Leases"), errors),
            Transport = ReadTransport(section.GetSection("Transport"), errors),
        };

        if (errors.Count > 0)
        {
            throw new BrokerConfigurationException(errors);
        }

        return settings;
    }

    private static List<IssuerSettings> ReadIssuers(IConfigurationSection section, List<string> errors)
    {
        var issuers = new List<IssuerSettings>();
        foreach (var child in section.GetChildren())
        {
            var key = child.Path;
            var issuer = child["Issuer"];
            if (string.IsNullOrWhiteSpace(issuer))
            {
                errors.Add($"{key}:Issuer: required (the exact 'iss' of the tokens to accept).");
                Skip(child);
                continue;
            }

            if (!Uri.TryCreate(issuer, UriKind.Absolute, out var uri) || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment))
            {
                errors.Add($"{key}:Issuer: '{issuer}' is not an absolute URL without query or fragment.");
                Skip(child);
                continue;
            }

            if (!IsHttpsOrLoopbackHttp(uri))
            {
                errors.Add($"{key}:Issuer: '{issuer}' must use https (plain http is accepted only for a loopback issuer).");
                Skip(child);
                continue;
            }

            var audiences = ReadList(child.GetSection("Audiences"));
            if (audiences.Count == 0)
            {
                audiences.Add("ghaport");
            }

            if (audiences.Any(string.IsNullOrWhiteSpace))
            {
                errors.Add($"{key}:Audiences: an audience must not be empty.");
            }

            if (issuers.Any(i => i.Issuer == issuer))
            {
                errors.Add($"{key}:Issuer: '{issuer}' is configured twice.");
                continue;
            }

            issuers.Add(new IssuerSettings { Issuer = issuer, Audiences = audiences });
        }

        if (issuers.Count == 0 && !errors.Any(e => e.StartsWith("Broker:Issuers", StringComparison.Ordinal)))
        {
            errors.Add("Broker:Issuers: at least one issuer is required (for GitHub Actions: https://token.actions.githubusercontent.com).");
        }

        return issuers;
    }

    private static Dictionary<string, TargetAddress> ReadTargets(IConfigurationSection section, List<string> errors)
    {
        var targets = new Dictionary<string, TargetAddress>(StringComparer.Ordinal);
        foreach (var child in section.GetChildren())
        {
            var key = child.Path;
            if (!TargetName.IsValid(child.Key))
            {
                errors.Add($"{key}: '{child.Key}' is not a valid target name ({TargetName.Rule}).");
                Skip(child);
                continue;
            }

            // Either "HOST:PORT", or { "Address": "HOST:PORT", "AllowPrivateAddresses": true }.
            var text = child.Value;
            var allowPrivate = false;
            var addressKey = key;
            if (text is null)
            {
                ReportUnknownKeys(child, TargetKeys, errors);
                text = child["Address"];
                addressKey = key + ":Address";
                allowPrivate = ReadBool(child, "AllowPrivateAddresses", false, errors);
                if (text is null)
                {
                    errors.Add($"{addressKey}: required (HOST:PORT of the target).");
                    continue;
                }
            }

            if (!TryParseHostPort(text, out var address))
            {
                errors.Add($"{addressKey}: '{text}' is not HOST:PORT (port 1-65535; IPv6 as [addr]:port).");
                continue;
            }

            targets.Add(child.Key, address with { AllowPrivateAddresses = allowPrivate });
        }

        return targets;
    }

    private static List<RuleSettings> ReadRules(
        IConfigurationSection section,
        List<IssuerSettings> issuers,
        Dictionary<string, TargetAddress> knownTargets,
        bool requireIssuers,
        List<string> errors)
    {
        var rules = new List<RuleSettings>();
        foreach (var child in section.GetChildren())
        {
            var name = child["Name"] is { Length: > 0 } n ? n : $"rule {child.Key}";
            var key = $"{child.Path} ({name})";

            // A misspelt key must not pass in silence: "NotClaim" ignored would quietly admit what it meant to exclude.
            ReportUnknownKeys(child, RuleKeys, errors, key);

            var targets = ReadList(child.GetSection("Targets"));
            if (targets.Count == 0)
            {
                errors.Add($"{key}:Targets: a rule must name at least one target.");
            }

            foreach (var target in targets.Where(t => !knownTargets.ContainsKey(t)))
            {
                errors.Add($"{key}:Targets: target '{target}' is not defined under Broker:Targets.");
            }

            var claims = ReadClaims(child.GetSection("Claims"), key + ":Claims", errors);
            if (claims.Count == 0 && !errors.Any(e => e.StartsWith(key + ":Claims:", StringComparison.Ordinal)))
            {
                errors.Add($"{key}:Claims: a rule must require at least one claim; without any it would admit every token of the issuer.");
            }

            var notClaims = ReadClaims(child.GetSection("NotClaims"), key + ":NotClaims", errors);
            var (ruleIssuers, defaulted) = ReadRuleIssuers(child, key, issuers, requireIssuers, errors);
            var maxTtl = ReadDuration(child, "MaxTtl", null, errors);
            var maxConnections = ReadInt(child, "MaxConnections", 16, 1, 10_000, errors);
            rules.Add(new RuleSettings
            {
                Name = name,
                Key = child.Path,
                Issuers = ruleIssuers,
                IssuerDefaulted = defaulted,
                Targets = targets,
                Claims = claims,
                NotClaims = notClaims,
                MaxTtl = maxTtl,
                MaxConnections = maxConnections,
            });
        }

        return rules;
    }

    /// <summary>
    /// A rule's issuers: the ones it names, or every configured issuer when it names none (start-up warns when that
    /// spans several, since one claim value can name different owners at each). With <c>RequireRuleIssuers</c>
    /// (set by dev mode) naming them is required, since the development issuer's tokens would otherwise satisfy
    /// the rule.
    /// </summary>
    private static (List<string> Issuers, bool Defaulted) ReadRuleIssuers(
        IConfigurationSection rule,
        string key,
        List<IssuerSettings> configured,
        bool requireIssuers,
        List<string> errors)
    {
        var named = ReadList(rule.GetSection("Issuer"));
        if (named.Count == 0)
        {
            if (requireIssuers)
            {
                errors.Add($"{key}:Issuer: required, since Broker:RequireRuleIssuers is set (ghaport-broker dev sets it: tokens of its development issuer would otherwise satisfy this rule).");
            }

            return (configured.Select(i => i.Issuer).ToList(), true);
        }

        var issuers = new List<string>();
        foreach (var issuer in named)
        {
            if (string.IsNullOrWhiteSpace(issuer))
            {
                errors.Add($"{key}:Issuer: an issuer must not be empty.");
            }
            else if (configured.All(i => i.Issuer != issuer))
            {
                errors.Add($"{key}:Issuer: '{issuer}' is not one of Broker:Issuers.");
            }
            else if (!issuers.Contains(issuer, StringComparer.Ordinal))
            {
                issuers.Add(issuer);
            }
        }

        return (issuers, false);
    }

    private static Dictionary<string, IReadOnlyList<ClaimPattern>> ReadClaims(IConfigurationSection section, string key, List<string> errors)
    {
        var claims = new Dictionary<string, IReadOnlyList<ClaimPattern>>(StringComparer.Ordinal);
        foreach (var claim in section.GetChildren())
        {
            var patterns = new List<ClaimPattern>();
            foreach (var text in ReadList(claim))
            {
                if (ClaimPattern.TryParse(text, out var pattern, out var error))
                {
                    patterns.Add(pattern!);
                }
                else
                {
                    errors.Add($"{key}:{claim.Key}: {error}.");
                }
            }

            if (patterns.Count > 0)
            {
                claims[claim.Key] = patterns;
            }
        }

        return claims;
    }

    private static LeaseSettings ReadLeases(IConfigurationSection section, List<string> errors)
    {
        var defaults = new LeaseSettings();
        var settings = new LeaseSettings
        {
            DefaultTtl = ReadDuration(section, "DefaultTtl", defaults.DefaultTtl, errors) ?? defaults.DefaultTtl,
            MaxTtl = ReadDuration(section, "MaxTtl", defaults.MaxTtl, errors) ?? defaults.MaxTtl,
        };

        if (settings.DefaultTtl > settings.MaxTtl)
        {
            errors.Add($"Broker:Leases:DefaultTtl: {settings.DefaultTtl} is longer than Broker:Leases:MaxTtl ({settings.MaxTtl}).");
        }

        return settings;
    }

    private static TransportSettings ReadTransport(IConfigurationSection section, List<string> errors)
    {
        var d = new TransportSettings();
        return new TransportSettings
        {
            ConnectTimeout = ReadDuration(section, "ConnectTimeout", d.ConnectTimeout, errors) ?? d.ConnectTimeout,
            // Kestrel's own bounds: windows between 64 KiB and 2^31-1 bytes.
            ConnectionWindowSize = ReadInt(section, "ConnectionWindowSize", d.ConnectionWindowSize, 65_535, int.MaxValue, errors),
            StreamWindowSize = ReadInt(section, "StreamWindowSize", d.StreamWindowSize, 65_535, int.MaxValue, errors),
            MaxStreamsPerConnection = ReadInt(section, "MaxStreamsPerConnection", d.MaxStreamsPerConnection, 1, 10_000, errors),
            MaxTunnels = ReadInt(section, "MaxTunnels", d.MaxTunnels, 1, 1_000_000, errors),
            MaxConnections = ReadInt(section, "MaxConnections", d.MaxConnections, 1, 1_000_000, errors),
            SessionTimeout = ReadDuration(section, "SessionTimeout", d.SessionTimeout, errors) ?? d.SessionTimeout,
            ProveTimeout = ReadDuration(section, "ProveTimeout", d.ProveTimeout, errors) ?? d.ProveTimeout,
            MaxUnprovenPerSource = ReadInt(section, "MaxUnprovenPerSource", d.MaxUnprovenPerSource, 1, 1_000_000, errors),
            MaxSessionFailuresPerSource = ReadInt(section, "MaxSessionFailuresPerSource", d.MaxSessionFailuresPerSource, 1, 1_000_000, errors),
            SessionFailureWindow = ReadDuration(section, "SessionFailureWindow", d.SessionFailureWindow, errors) ?? d.SessionFailureWindow,
            KeepAlivePingDelay = ReadDuration(section, "KeepAlivePingDelay", d.KeepAlivePingDelay, errors) ?? d.KeepAlivePingDelay,
            KeepAlivePingTimeout = ReadDuration(section, "KeepAlivePingTimeout", d.KeepAlivePingTimeout, errors) ?? d.KeepAlivePingTimeout,
            IdleConnectionTimeout = ReadDuration(section, "IdleConnectionTimeout", d.IdleConnectionTimeout, errors) ?? d.IdleConnectionTimeout,
            DrainTimeout = ReadDurationOrZero(section, "DrainTimeout", d.DrainTimeout, errors),
        };
    }

    /// <summary>A key that holds either one value or a list of values.</summary>
    private static List<string> ReadList(IConfigurationSection section) =>
        section.Value is { } single
            ? [single]
            : section.GetChildren().Select(c => c.Value ?? string.Empty).ToList();

    /// <summary>
    /// Whether <paramref name="url"/> (the value of <paramref name="key"/>) can be listened on as it is: scheme, host and
    /// port only, the host an IP address or localhost; if not, an error naming the key says why.
    /// </summary>
    internal static bool IsListenUrl(string key, Uri url, List<string> errors)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (url.AbsolutePath != "/" || url.Query.Length > 0 || url.UserInfo.Length > 0)
        {
            errors.Add($"{key}: '{url.OriginalString}' must be scheme, host and port only.");
            return false;
        }

        if (!System.Net.IPAddress.TryParse(url.Host.Trim('[', ']'), out _) && !string.Equals(url.Host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            errors.Add($"{key}: '{url.OriginalString}': the host must be an IP address or localhost (0.0.0.0 listens on all addresses).");
            return false;
        }

        return true;
    }

    /// <summary>A true/false key; a bad value is an error naming the key, and the fallback stands in for it.</summary>
    internal static bool ReadBool(IConfigurationSection section, string name, bool fallback, List<string> errors)
    {
        var text = section[name];
        if (text is null)
        {
            return fallback;
        }

        if (!bool.TryParse(text, out var value))
        {
            errors.Add($"{section.Path}:{name}: '{text}' is not true or false.");
            return fallback;
        }

        return value;
    }

    private static void ReportUnknownKeys(IConfigurationSection section, string[] known, List<string> errors, string? key = null)
    {
        foreach (var child in section.GetChildren().Where(c => !known.Contains(c.Key, StringComparer.OrdinalIgnoreCase)))
        {
            var nearest = KeySuggestion.Nearest(child.Key, known);
            errors.Add(nearest is null
                ? $"{key ?? section.Path}:{child.Key}: unknown key (expected one of {string.Join(", ", known)})."
                : $"{key ?? section.Path}:{child.Key}: unknown key; did you mean {nearest}?");

            Skip(child);
        }
    }

    /// <summary>
    /// Marks an entry already reported as wrong as looked up, every key under it included, so the check for keys
    /// nothing reads (<see cref="UnknownKeys"/>) does not also call them unknown.
    /// </summary>
    private static void Skip(IConfigurationSection entry) => _ = entry.AsEnumerable().Count();

    /// <summary>A positive duration of at most 30 days; a bad value is an error naming the key, and the fallback stands in for it.</summary>
    internal static TimeSpan? ReadDuration(IConfigurationSection section, string name, TimeSpan? fallback, List<string> errors)
    {
        var text = section[name];
        if (text is null)
        {
            return fallback;
        }

        if (!DurationText.TryParse(text, out var value, out var error))
        {
            errors.Add($"{section.Path}:{name}: {error}.");
            return fallback;
        }

        if (value <= TimeSpan.Zero || value > MaxDuration)
        {
            errors.Add($"{section.Path}:{name}: '{text}' is not a positive duration of at most {MaxDuration.Days} days ({DurationText.Forms}).");
            return fallback;
        }

        return value;
    }

    /// <summary>A duration of zero (meaning "none") up to 30 days; a bad value is an error naming the key, and the fallback stands in for it.</summary>
    private static TimeSpan ReadDurationOrZero(IConfigurationSection section, string name, TimeSpan fallback, List<string> errors)
    {
        var text = section[name];
        if (text is null)
        {
            return fallback;
        }

        // A bare 0 is clear whatever the unit, and is what "no drain" is written as.
        if (text.Trim() == "0")
        {
            return TimeSpan.Zero;
        }

        if (!DurationText.TryParse(text, out var value, out var error))
        {
            errors.Add($"{section.Path}:{name}: {error}.");
            return fallback;
        }

        if (value > MaxDuration)
        {
            errors.Add($"{section.Path}:{name}: '{text}' is longer than {MaxDuration.Days} days ({DurationText.Forms}, or 0 for none).");
            return fallback;
        }

        return value;
    }

    private static int ReadInt(IConfigurationSection section, string name, int fallback, int min, int max, List<string> errors)
    {
        var text = section[name];
        if (text is null)
        {
            return fallback;
        }

        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            errors.Add($"{section.Path}:{name}: '{text}' is not a whole number from {min} to {max}.");
            return fallback;
        }

        return value;
    }

    internal static bool TryParseHostPort(string? text, out TargetAddress address)
    {
        address = null!;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        string host;
        string portText;
        if (text.StartsWith('['))
        {
            var close = text.IndexOf("]:", StringComparison.Ordinal);
            if (close < 0)
            {
                return false;
            }

            host = text[1..close];
            portText = text[(close + 2)..];
            if (!IPAddress.TryParse(host, out _))
            {
                return false;
            }
        }
        else
        {
            var colon = text.LastIndexOf(':');
            if (colon <= 0 || text.IndexOf(':') != colon)
            {
                return false;
            }

            host = text[..colon];
            portText = text[(colon + 1)..];
            if (Uri.CheckHostName(host) == UriHostNameType.Unknown)
            {
                return false;
            }
        }

        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            return false;
        }

        address = new TargetAddress(host, port);
        return true;
    }

    /// <summary>Where issuer metadata may come from: https, or plain http on loopback only.</summary>
    internal static bool IsHttpsOrLoopbackHttp(Uri uri) =>
        uri.Scheme == Uri.UriSchemeHttps || (uri.Scheme == Uri.UriSchemeHttp && IsLoopback(uri));

    internal static bool IsLoopback(Uri uri) =>
        uri.IsLoopback || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
}
