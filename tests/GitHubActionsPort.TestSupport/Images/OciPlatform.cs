using System.Runtime.InteropServices;

namespace GitHubActionsPort.TestSupport.Images;

/// <summary>This host as OCI and .NET name its platform.</summary>
public static class OciPlatform
{
    /// <summary>The OCI name of this host's architecture (<c>amd64</c>, <c>arm64</c>).</summary>
    public static string Architecture => RuntimeInformation.OSArchitecture switch
    {
        System.Runtime.InteropServices.Architecture.X64 => "amd64",
        System.Runtime.InteropServices.Architecture.Arm64 => "arm64",
        var other => throw new PlatformNotSupportedException($"no Debian base image for {other}"),
    };

    /// <summary>The runtime identifier of a Linux image for this host's architecture.</summary>
    public static string LinuxRuntimeIdentifier => "linux-" + (Architecture == "amd64" ? "x64" : "arm64");
}
