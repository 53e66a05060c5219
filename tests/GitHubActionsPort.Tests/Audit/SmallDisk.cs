using System.Diagnostics;

namespace GitHubActionsPort.Tests.Audit;

/// <summary>
/// A real, small filesystem for a test: a tmpfs of a few hundred KiB mounted on a fresh folder, so a full disk is a
/// real ENOSPC from the kernel, not a fake. Mounting needs Linux and root (CI runs as root); elsewhere the test is
/// ignored with the reason. Unmounted (lazily, should a file still be open) and removed on dispose.
/// </summary>
public sealed class SmallDisk : IAsyncDisposable
{
    private SmallDisk(string folder, long size)
    {
        Folder = folder;
        Size = size;
    }

    public string Folder { get; }

    public long Size { get; }

    /// <summary>Mounts a tmpfs of <paramref name="size"/> bytes, or ignores the test saying why it cannot.</summary>
    public static async Task<SmallDisk> MountAsync(long size)
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Ignore("a small real filesystem needs a tmpfs mount, which only Linux has");
        }

        var folder = Directory.CreateTempSubdirectory("ghaport-small-disk-").FullName;
        var (code, output) = await RunAsync("mount", "-t", "tmpfs", "-o", $"size={size},mode=0700", "tmpfs", folder);
        if (code != 0)
        {
            Directory.Delete(folder);
            Assert.Ignore($"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): mount exited {code}: {output.Trim()}");
        }

        return new SmallDisk(folder, size);
    }

    /// <summary>Fills the disk with one file until the kernel refuses more; returns the file.</summary>
    public string Fill(string name = "filler")
    {
        var path = Path.Combine(Folder, name);
        var chunk = new byte[4096];
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
        try
        {
            while (true)
            {
                file.Write(chunk);
            }
        }
        catch (IOException)
        {
            // ENOSPC: the disk is full. Single bytes take whatever a whole chunk could not.
        }

        try
        {
            while (true)
            {
                file.Write(chunk.AsSpan(0, 1));
            }
        }
        catch (IOException)
        {
        }

        return path;
    }

    public async ValueTask DisposeAsync()
    {
        await RunAsync("umount", "-l", Folder);
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static async Task<(int Code, string Output)> RunAsync(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        try
        {
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync().DefaultTimeout().ConfigureAwait(false);
            return (process.ExitCode, await output.ConfigureAwait(false) + await error.ConfigureAwait(false));
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (-1, ex.Message);
        }
    }
}
