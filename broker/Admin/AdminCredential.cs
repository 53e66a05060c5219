using System.Security.Cryptography;
using System.Text;
using GitHubActionsPort.Broker.Configuration;

namespace GitHubActionsPort.Broker.Admin;

/// <summary>
/// The admin endpoint's bearer credential: one secret in a file only the broker's user can read. Compared in
/// constant time, through SHA-256 so neither its content nor its length leaks.
/// </summary>
internal sealed class AdminCredential
{
    /// <summary>Shortest credential accepted from a configured file: guessing must stay out of reach.</summary>
    public const int MinLength = 32;

    private readonly byte[] _hash;

    private AdminCredential(string path, string token, bool created)
    {
        Path = path;
        Created = created;
        _hash = SHA256.HashData(Encoding.UTF8.GetBytes(token));
    }

    public string Path { get; }

    /// <summary>Whether this start made the file.</summary>
    public bool Created { get; }

    /// <summary>Whether <paramref name="presented"/> is the credential.</summary>
    public bool Matches(string? presented) =>
        presented is not null && CryptographicOperations.FixedTimeEquals(_hash, SHA256.HashData(Encoding.UTF8.GetBytes(presented)));

    /// <summary>
    /// The broker's credential: read from <see cref="AdminSettings.TokenFile"/>, or, for the default file only, made
    /// on first start (owner-only, written aside and moved into place, as the lease signing key is).
    /// </summary>
    public static AdminCredential LoadOrCreate(AdminSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (File.Exists(settings.TokenFile) || settings.TokenFileConfigured)
        {
            return new AdminCredential(settings.TokenFile, ReadToken(settings.TokenFile, $"{AdminSettings.Section}:TokenFile"), created: false);
        }

        var token = Base64Url(RandomNumberGenerator.GetBytes(32));
        var path = settings.TokenFile;
        var directory = System.IO.Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(directory);
        var temp = System.IO.Path.Combine(directory, $".{System.IO.Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var file = new StreamWriter(temp, Encoding.ASCII, options))
        {
            file.WriteLine(token);
        }

        try
        {
            File.Move(temp, path, overwrite: false);
            return new AdminCredential(path, token, created: true);
        }
        catch (IOException) when (File.Exists(path))
        {
            // Another broker starting at the same moment won: use its credential.
            File.Delete(temp);
            return new AdminCredential(path, ReadToken(path, $"{AdminSettings.Section}:TokenFile"), created: false);
        }
    }

    /// <summary>Reads a credential file; errors name <paramref name="key"/>, the setting or flag that pointed at it.</summary>
    public static string ReadToken(string path, string key)
    {
        string text;
        try
        {
            text = File.ReadAllText(path).Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new BrokerConfigurationException([$"{key}: cannot read the admin credential from '{path}' ({ex.Message})."]);
        }

        if (text.Length < MinLength || text.Any(char.IsWhiteSpace))
        {
            throw new BrokerConfigurationException([$"{key}: '{path}' must hold one admin credential of at least {MinLength} characters, with no spaces."]);
        }

        return text;
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
