namespace GitHubActionsPort.TestSupport.Images;

/// <summary>What <see cref="BrokerImage.PublishAsync"/> made: the tarball, the base image it was built on, and the blobs the build pulled.</summary>
public sealed record BrokerImageBuild(string ArchivePath, OciImage BaseImage, IReadOnlyList<string> BlobsPulled);
