using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace GitHubActionsPort.Agent.Background;

/// <summary>
/// The owner and type of a path itself, not of what a symbolic link points at, which .NET does not expose: one
/// <c>statx</c> call on Linux, whose result layout is the same on every architecture.
/// </summary>
[SupportedOSPlatform("linux")]
internal static partial class UnixFileStatus
{
    private const int AtFdcwd = -100;
    private const int AtSymlinkNofollow = 0x100;
    private const uint StatxType = 0x1;
    private const uint StatxMode = 0x2;
    private const uint StatxUid = 0x8;
    private const int DirectoryType = 0x4000;
    private const int TypeMask = 0xF000;

    /// <summary>The effective uid of this process.</summary>
    public static uint EffectiveUserId => geteuid();

    /// <summary>The owner's uid and whether the path is a real directory (not a link to one); null if it cannot be read.</summary>
    public static (uint Owner, bool IsDirectory)? Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        Span<byte> buffer = stackalloc byte[256];
        if (statx(AtFdcwd, path, AtSymlinkNofollow, StatxType | StatxMode | StatxUid, ref MemoryMarshal.GetReference(buffer)) != 0)
        {
            return null;
        }

        // struct statx: stx_mask, stx_blksize (u32), stx_attributes (u64), stx_nlink, stx_uid, stx_gid (u32), stx_mode (u16).
        var uid = MemoryMarshal.Read<uint>(buffer[20..]);
        var mode = MemoryMarshal.Read<ushort>(buffer[28..]);
        return (uid, (mode & TypeMask) == DirectoryType);
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, ref byte buffer);

    [LibraryImport("libc")]
    private static partial uint geteuid();
}
