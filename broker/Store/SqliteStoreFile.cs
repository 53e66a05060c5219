namespace GitHubActionsPort.Broker.Store;

/// <summary>
/// Makes the sqlite store's file owner-only before sqlite opens it: the file holds every lease's claims and the
/// replay records, so it is never readable by others, not even for the moment between creating it and a chmod.
/// </summary>
internal static class SqliteStoreFile
{
    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerOnlyDirectory = OwnerOnlyFile | UnixFileMode.UserExecute;
    private const UnixFileMode Others = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>
    /// Creates the directory (0700) when missing and the empty file (0600) when missing, and takes group and world
    /// access away from a file (and its -wal and -shm) that has it. sqlite creates -wal and -shm with the main
    /// file's mode, so they are owner-only too. On Windows the directory's ACLs decide, as for the signing key.
    /// </summary>
    public static void Prepare(string path)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
            return;
        }

        if (!Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory, OwnerOnlyDirectory);
        }

        try
        {
            using var created = new FileStream(path, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = OwnerOnlyFile });
        }
        catch (IOException) when (File.Exists(path))
        {
            // Already there (a restart, or another process sharing the file got there first).
        }

        foreach (var file in new[] { path, path + "-wal", path + "-shm" })
        {
            if (File.Exists(file) && (File.GetUnixFileMode(file) & Others) != 0)
            {
                File.SetUnixFileMode(file, File.GetUnixFileMode(file) & ~Others);
            }
        }
    }
}
