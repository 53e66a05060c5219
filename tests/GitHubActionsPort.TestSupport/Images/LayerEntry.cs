using System.Formats.Tar;

namespace GitHubActionsPort.TestSupport.Images;

/// <summary>One entry of a layer's tar; <see cref="Data"/> only for regular files.</summary>
public sealed record LayerEntry(string Name, TarEntryType Type, UnixFileMode Mode, int Uid, int Gid, string LinkName, byte[]? Data);
