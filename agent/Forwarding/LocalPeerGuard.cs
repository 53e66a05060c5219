using System.Net;
using System.Net.Sockets;
using GitHubActionsPort.Agent.Cli;

namespace GitHubActionsPort.Agent.Forwarding;

/// <summary>
/// On a shared machine (a self-hosted runner several users log in to), a loopback forward is reachable by every
/// local user, and whoever connects uses the job's lease. On Linux this serves a loopback connection only when its
/// client socket belongs to the agent's own user or to root, as the kernel reports it (<see cref="LocalPeerOwner"/>);
/// any other, and any the kernel cannot place, is reset (fail closed). Off with <c>--allow-any-local-user</c>;
/// elsewhere (Windows, macOS) there is no such check. Refusals are logged at most once per
/// <see cref="LogInterval"/>, with a count of the ones in between: another user must not be able to flood the log.
/// </summary>
internal sealed partial class LocalPeerGuard
{
    /// <summary>The shortest time between two refusal lines.</summary>
    public static readonly TimeSpan LogInterval = TimeSpan.FromSeconds(10);

    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly uint _ownUid;
    private readonly object _logGate = new();
    private long _nextLogAt;
    private long _suppressed;

    private LocalPeerGuard(ILogger logger, TimeProvider time, uint ownUid)
    {
        _logger = logger;
        _time = time;
        _ownUid = ownUid;
    }

    /// <summary>A guard for this process, or null where nothing is checked (not Linux, or the check is switched off).</summary>
    public static LocalPeerGuard? Create(bool allowAnyLocalUser, ILogger logger, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(time);
        return !allowAnyLocalUser && OperatingSystem.IsLinux() ? new LocalPeerGuard(logger, time, LocalPeerOwner.EffectiveUserId) : null;
    }

    /// <summary>
    /// Whether <paramref name="accepted"/> may be served. A refused socket is reset and disposed here. A forward
    /// that other machines can reach (<c>--allow-remote-clients</c>) is not checked: it admits strangers already.
    /// </summary>
    public bool Admit(Socket accepted, ForwardSpec forward)
    {
        ArgumentNullException.ThrowIfNull(accepted);
        ArgumentNullException.ThrowIfNull(forward);
        if (!forward.IsLoopback || !OperatingSystem.IsLinux())
        {
            return true;
        }

        uint? owner = null;
        IPEndPoint? peer = null;
        try
        {
            peer = accepted.RemoteEndPoint as IPEndPoint;
            if (peer is not null && accepted.LocalEndPoint is IPEndPoint local)
            {
                owner = LocalPeerOwner.Find(peer, local);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Gone already: nothing to serve, and nothing to look up.
        }

        if (owner is { } uid && (uid == _ownUid || uid == 0))
        {
            return true;
        }

        Reset(accepted);
        LogRefusal(peer, forward.Target, owner);
        return false;
    }

    private static void Reset(Socket accepted)
    {
        try
        {
            // RST, not FIN: the client sees a refusal, not an empty answer from the target.
            accepted.LingerState = new LingerOption(true, 0);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Reset already.
        }

        accepted.Dispose();
    }

    private void LogRefusal(IPEndPoint? peer, string target, uint? owner)
    {
        long suppressed;
        lock (_logGate)
        {
            var now = _time.GetTimestamp();
            if (_nextLogAt != 0 && now < _nextLogAt)
            {
                _suppressed++;
                return;
            }

            _nextLogAt = now + (long)(LogInterval.TotalSeconds * _time.TimestampFrequency);
            suppressed = _suppressed;
            _suppressed = 0;
        }

        var from = peer?.ToString() ?? "?";
        if (owner is { } uid)
        {
            Log.OtherUserRefused(_logger, from, target, uid, _ownUid, suppressed);
        }
        else
        {
            Log.UnknownUserRefused(_logger, from, target, suppressed);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(21, LogLevel.Warning, "Connection from {Peer} to {Target} refused: its socket belongs to uid {Uid}, not to this agent's user ({OwnUid}) or root; --allow-any-local-user serves every local user ({Suppressed} more refused since the last such line)", EventName = "OtherUserRefused")]
        public static partial void OtherUserRefused(ILogger logger, string peer, string target, uint uid, uint ownUid, long suppressed);

        [LoggerMessage(22, LogLevel.Warning, "Connection from {Peer} to {Target} refused: the kernel could not say which user's socket it is, so it may be another user's; --allow-any-local-user serves every local user ({Suppressed} more refused since the last such line)", EventName = "UnknownUserRefused")]
        public static partial void UnknownUserRefused(ILogger logger, string peer, string target, long suppressed);
    }
}
