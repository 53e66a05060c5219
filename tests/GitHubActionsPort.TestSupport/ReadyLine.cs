using System.Net;

namespace GitHubActionsPort.TestSupport;

/// <summary>Parses the agent's <c>ready 127.0.0.1:5432 -> prod-db</c> line.</summary>
public static class ReadyLine
{
    public static bool TryParse(string line, out IPEndPoint endPoint, out string target)
    {
        ArgumentNullException.ThrowIfNull(line);
        endPoint = null!;
        target = string.Empty;
        var parts = line.Split(' ');
        if (parts.Length != 4 || parts[0] != "ready" || parts[2] != "->" || !IPEndPoint.TryParse(parts[1], out var parsed))
        {
            return false;
        }

        endPoint = parsed;
        target = parts[3];
        return true;
    }
}
