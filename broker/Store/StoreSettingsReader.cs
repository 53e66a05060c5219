using GitHubActionsPort.Broker.Configuration;
using GitHubActionsPort.Broker.Leases;
using Npgsql;

namespace GitHubActionsPort.Broker.Store;

/// <summary>Reads and checks <c>Broker:Store</c>; every error names its key.</summary>
internal static class StoreSettingsReader
{
    public const string Section = "Broker:Store";

    /// <summary>The sqlite file's name when <c>Broker:Store:Path</c> is not given: beside the lease signing key.</summary>
    public const string DefaultFileName = "broker-state.db";

    /// <summary>Longest schema name: PostgreSQL's identifiers end at 63 bytes, and the notification channel adds <c>_changes</c>.</summary>
    private const int MaxSchemaLength = 48;

    /// <summary>A connection string file much larger than this is not one.</summary>
    private const int MaxConnectionStringFileBytes = 16 * 1024;

    public static StoreSettings Read(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var section = configuration.GetSection(Section);
        var errors = new List<string>();
        var defaults = new StoreSettings();

        var kind = defaults.Kind;
        if (section["Kind"] is { } kindText)
        {
            if (Enum.TryParse<StoreKind>(kindText, ignoreCase: true, out var parsed) && Enum.IsDefined(parsed) && !int.TryParse(kindText, out _))
            {
                kind = parsed;
            }
            else
            {
                errors.Add($"{Section}:Kind: '{kindText}' is not a store; use sqlite (the default), postgres or memory.");
            }
        }

        // Every key is read whatever the kind, so none is called unknown; one that does not fit the kind is an error.
        var pathText = section["Path"];
        var connectionString = section["ConnectionString"];
        var connectionStringFile = section["ConnectionStringFile"];
        var schemaText = section["Schema"];
        var errorsBeforeTimes = errors.Count;
        var settings = defaults with
        {
            Kind = kind,
            MaxStaleness = BrokerSettingsReader.ReadDuration(section, "MaxStaleness", defaults.MaxStaleness, errors) ?? defaults.MaxStaleness,
            HeartbeatInterval = BrokerSettingsReader.ReadDuration(section, "HeartbeatInterval", defaults.HeartbeatInterval, errors) ?? defaults.HeartbeatInterval,
            InstanceTimeout = BrokerSettingsReader.ReadDuration(section, "InstanceTimeout", defaults.InstanceTimeout, errors) ?? defaults.InstanceTimeout,
            PollInterval = BrokerSettingsReader.ReadDuration(section, "PollInterval", defaults.PollInterval, errors) ?? defaults.PollInterval,
        };

        settings = kind switch
        {
            StoreKind.Sqlite => settings with { Path = ReadPath(pathText, configuration, errors) },
            StoreKind.Postgres => settings with
            {
                ConnectionString = ReadConnectionString(connectionString, connectionStringFile, errors),
                Schema = ReadSchema(schemaText, defaults.Schema, errors),
            },
            _ => settings,
        };

        if (kind != StoreKind.Sqlite && pathText is not null)
        {
            errors.Add($"{Section}:Path: only for the sqlite store; {Section}:Kind is {Name(kind)}.");
        }

        if (kind != StoreKind.Postgres)
        {
            foreach (var (key, value) in new[] { ("ConnectionString", connectionString), ("ConnectionStringFile", connectionStringFile), ("Schema", schemaText) })
            {
                if (value is not null)
                {
                    errors.Add($"{Section}:{key}: only for the postgres store; {Section}:Kind is {Name(kind)}.");
                }
            }
        }

        if (errors.Count == errorsBeforeTimes)
        {
            // Only when every one of them read well: a bad value's own error says enough.
            CheckTimes(settings, errors);
        }

        if (errors.Count > 0)
        {
            throw new BrokerConfigurationException(errors);
        }

        return settings;
    }

    /// <summary>
    /// Letters, digits and underscores, not starting with a digit, lower case (PostgreSQL folds an unquoted name to
    /// lower case, so an operator's <c>psql</c> finds the same schema), at most 48 characters.
    /// </summary>
    public static bool IsPlainIdentifier(string? name) =>
        name is { Length: > 0 and <= MaxSchemaLength }
        && (char.IsAsciiLetterLower(name[0]) || name[0] == '_')
        && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_');

    private static string Name(StoreKind kind) => kind.ToString().ToLowerInvariant();

    private static void CheckTimes(StoreSettings settings, List<string> errors)
    {
        if (settings.InstanceTimeout <= settings.HeartbeatInterval * 2)
        {
            errors.Add($"{Section}:InstanceTimeout: {settings.InstanceTimeout} must be more than twice {Section}:HeartbeatInterval ({settings.HeartbeatInterval}), "
                + "or a live instance that missed one heartbeat would be taken for lost and its tunnels ended.");
        }

        // An instance cut off from the store carries its tunnels until MaxStaleness; claimed lost before that, its
        // tunnels would still run while their slots were handed to new ones, and a lease's cap could be passed.
        if (settings.InstanceTimeout <= settings.MaxStaleness + settings.HeartbeatInterval)
        {
            errors.Add($"{Section}:InstanceTimeout: {settings.InstanceTimeout} must be more than {Section}:MaxStaleness plus {Section}:HeartbeatInterval ({settings.MaxStaleness + settings.HeartbeatInterval}), "
                + "or an instance cut off from the store would be taken for lost while its tunnels still run, and their slots handed to others.");
        }

        if (settings.MaxStaleness <= settings.HeartbeatInterval)
        {
            errors.Add($"{Section}:MaxStaleness: {settings.MaxStaleness} must be more than {Section}:HeartbeatInterval ({settings.HeartbeatInterval}), "
                + "or every instance would end its tunnels between two heartbeats.");
        }

        if (settings.PollInterval >= settings.MaxStaleness)
        {
            errors.Add($"{Section}:PollInterval: {settings.PollInterval} must be less than {Section}:MaxStaleness ({settings.MaxStaleness}), "
                + "or an instance would take itself for cut off from the store between two polls.");
        }
    }

    private static string? ReadPath(string? text, IConfiguration configuration, List<string> errors)
    {
        if (text is null)
        {
            var keyPath = configuration["Broker:Leases:SigningKeyPath"] is { Length: > 0 } key ? Path.GetFullPath(key) : LeaseSigningKey.DefaultPath;
            return Path.Combine(Path.GetDirectoryName(keyPath)!, DefaultFileName);
        }

        if (string.IsNullOrWhiteSpace(text))
        {
            errors.Add($"{Section}:Path: must name the sqlite file, or be left out for {DefaultFileName} beside the lease signing key.");
            return null;
        }

        try
        {
            var path = Path.GetFullPath(text);
            if (Directory.Exists(path))
            {
                errors.Add($"{Section}:Path: '{path}' is a directory; name the file (e.g. {Path.Combine(path, DefaultFileName)}).");
                return null;
            }

            return path;
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
        {
            errors.Add($"{Section}:Path: '{text}' is not a file path ({ex.Message}).");
            return null;
        }
    }

    private static string ReadSchema(string? text, string fallback, List<string> errors)
    {
        if (text is null)
        {
            return fallback;
        }

        if (!IsPlainIdentifier(text))
        {
            errors.Add($"{Section}:Schema: '{text}' is not a plain schema name (lower-case letters, digits and _, not starting with a digit, at most {MaxSchemaLength}).");
            return fallback;
        }

        return text;
    }

    /// <summary>The connection string, from the key or the file; never put in a message, since it may hold a password.</summary>
    private static string? ReadConnectionString(string? inline, string? file, List<string> errors)
    {
        if (inline is not null && file is not null)
        {
            errors.Add($"{Section}:ConnectionString and {Section}:ConnectionStringFile: give one of them, not both.");
            return null;
        }

        if (inline is null && file is null)
        {
            errors.Add($"{Section}:ConnectionString: required with the postgres store (or {Section}:ConnectionStringFile, a file holding it, since it may carry a password).");
            return null;
        }

        var key = inline is not null ? $"{Section}:ConnectionString" : $"{Section}:ConnectionStringFile";
        var text = inline ?? ReadConnectionStringFile(file!, errors);
        if (text is null)
        {
            return null;
        }

        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(text);
        }
#pragma warning disable CA1031 // Whatever the parser throws, its message may quote the text: none of it is shown.
        catch (Exception)
#pragma warning restore CA1031
        {
            errors.Add($"{key}: not a PostgreSQL connection string (Host=...;Port=...;Database=...;Username=...; the text is not shown, since it may hold a password).");
            return null;
        }

        if (string.IsNullOrWhiteSpace(builder.Host))
        {
            errors.Add($"{key}: the connection string names no Host.");
            return null;
        }

        return text;
    }

    private static string? ReadConnectionStringFile(string file, List<string> errors)
    {
        const string key = $"{Section}:ConnectionStringFile";
        if (string.IsNullOrWhiteSpace(file))
        {
            errors.Add($"{key}: must name a file holding the connection string.");
            return null;
        }

        var path = Path.GetFullPath(file);
        try
        {
            if (!File.Exists(path))
            {
                errors.Add($"{key}: no file at '{path}'.");
                return null;
            }

            if (!OperatingSystem.IsWindows())
            {
                const UnixFileMode others = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite;
                var mode = File.GetUnixFileMode(path);
                if ((mode & others) != 0)
                {
                    errors.Add($"{key}: '{path}' is readable or writable by others (mode {Convert.ToString((int)mode, 8).PadLeft(4, '0')}); it holds the database password: chmod 600 '{path}'.");
                    return null;
                }
            }

            if (new FileInfo(path).Length > MaxConnectionStringFileBytes)
            {
                errors.Add($"{key}: '{path}' is larger than {MaxConnectionStringFileBytes / 1024} KiB; it should hold one connection string.");
                return null;
            }

            var text = File.ReadAllText(path).Trim();
            if (text.Length == 0)
            {
                errors.Add($"{key}: '{path}' is empty.");
                return null;
            }

            return text;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            errors.Add($"{key}: cannot read '{path}' ({ex.Message}).");
            return null;
        }
    }
}
