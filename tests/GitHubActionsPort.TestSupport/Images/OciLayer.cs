namespace GitHubActionsPort.TestSupport.Images;

/// <summary>A gzip-compressed layer: <see cref="Digest"/> of the file as stored, <see cref="DiffId"/> of the tar inside.</summary>
public sealed record OciLayer(string Digest, string DiffId, string Path, long Size);
