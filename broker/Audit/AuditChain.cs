using System.Security.Cryptography;
using System.Text;

namespace GitHubActionsPort.Broker.Audit;

/// <summary>
/// The hash chain both the writer and <c>audit verify</c> follow: each line carries the SHA-256 of the line before it
/// (<c>prev</c>) and its number in the trail (<c>seq</c>), so an edited, removed or reordered line breaks the chain
/// at that line. The first line of a trail chains to <see cref="Genesis"/>; the first line after a rotation chains
/// to the last line of the file before it. When retention deletes the oldest files, an <c>audit.retention</c> record
/// names the first kept record's <c>seq</c> and <c>prev</c>, so the kept window has a known, chained start.
/// </summary>
public static class AuditChain
{
    public const string Genesis = "0000000000000000000000000000000000000000000000000000000000000000";

    /// <summary>The hash a following line names as its <c>prev</c>: of the line's exact UTF-8 text, without its newline.</summary>
    public static string HashOf(string line) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(line)));
}
