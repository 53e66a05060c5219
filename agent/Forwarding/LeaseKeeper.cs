using System.Security.Cryptography;
using GitHubActionsPort.Protocol;
using GitHubActionsPort.Protocol.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace GitHubActionsPort.Agent.Forwarding;

/// <summary>
/// Holds the session's lease and its key: signs each lease-bearing call, renews the lease before it runs out
/// (with a fresh id-token, when the token source can give one), and ends <see cref="Ended"/> when it expires.
/// The session key lives in memory only; it is never written anywhere.
/// </summary>
internal sealed partial class LeaseKeeper : IDisposable
{
    /// <summary>Renew once this share of the lease has passed, leaving room for retries before it ends.</summary>
    private const double RenewAtFraction = 2.0 / 3.0;

    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(10);

    /// <summary>The broker grants at most 30 days; a timer cannot be asked for much more.</summary>
    private static readonly TimeSpan MaxLeaseTimer = TimeSpan.FromDays(30);

    private readonly Broker.BrokerClient _client;
    private readonly ECDsa _sessionKey;
    private readonly Func<CancellationToken, Task<string>>? _freshIdToken;
    private readonly TimeSpan? _requestedTtl;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _ended = new();
    private readonly ITimer _expiry;
    private Lease _current;
    private long _expiresAtTimestamp;

    public LeaseKeeper(Broker.BrokerClient client, ECDsa sessionKey, Lease lease, Func<CancellationToken, Task<string>>? freshIdToken, TimeSpan? requestedTtl, TimeProvider time, ILogger logger)
    {
        _client = client;
        _sessionKey = sessionKey;
        _current = lease;
        _freshIdToken = freshIdToken;
        _requestedTtl = requestedTtl;
        _time = time;
        _logger = logger;
        var ttl = TimeLeft(lease);
        _expiresAtTimestamp = time.GetTimestamp() + (long)(ttl.TotalSeconds * time.TimestampFrequency);
        _expiry = time.CreateTimer(_ => _ended.Cancel(), null, ttl, Timeout.InfiniteTimeSpan);
    }

    public Lease Current => Volatile.Read(ref _current);

    /// <summary>Fires when the lease runs out without a renewal.</summary>
    public CancellationToken Ended => _ended.Token;

    /// <summary>Request headers of a lease-bearing call: the lease token and a fresh proof of the session key.</summary>
    public Metadata Headers(string method, string target)
    {
        var lease = Current;
        return
        [
            new Metadata.Entry("authorization", $"{WireLimits.LeaseScheme} {lease.Token}"),
            new Metadata.Entry(LeaseProof.Header, LeaseProof.Create(_sessionKey, method, lease.LeaseId, target, _time.GetUtcNow())),
        ];
    }

    /// <summary>Renews before expiry until stopped, the lease ends, or the broker refuses.</summary>
    public async Task KeepRenewingAsync(CancellationToken stopping)
    {
        if (_freshIdToken is null)
        {
            Log.CannotRenew(_logger, Current.LeaseId, Current.ExpiresAt.ToDateTimeOffset());
            return;
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(stopping, Ended);
        var delay = Remaining * RenewAtFraction;
        while (true)
        {
            // Past its maximum life no renewal can help: say so once instead of asking to be refused.
            if (Current is { MaxExpiresAt: { } max } lease && lease.ExpiresAt.ToDateTimeOffset() >= max.ToDateTimeOffset())
            {
                Log.AtMaximumLife(_logger, lease.LeaseId, lease.ExpiresAt.ToDateTimeOffset());
                return;
            }

            try
            {
                await Task.Delay(delay, _time, stop.Token).ConfigureAwait(false);
                var renewed = await RenewOnceAsync(stop.Token).ConfigureAwait(false);
                if (renewed is null)
                {
                    return;
                }

                delay = renewed.Value * RenewAtFraction;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is RpcException or Cli.AgentException or HttpRequestException)
            {
                // Broker or token endpoint briefly unreachable: try again well before the lease runs out.
                delay = Min(MaxRetryDelay, Remaining / 4);
                Log.RenewalRetry(_logger, Current.LeaseId, ex.Message, delay.TotalSeconds);
            }
        }
    }

    /// <summary>Ends the lease at the broker now (on stop): its tunnels end at once instead of at expiry.</summary>
    public async Task CloseAsync(TimeSpan timeout)
    {
        if (_ended.IsCancellationRequested)
        {
            return;
        }

        try
        {
            await _client.CloseSessionAsync(new CloseSessionRequest(), Headers(nameof(Broker.BrokerClient.CloseSession), string.Empty), DateTime.UtcNow + timeout).ConfigureAwait(false);
            Log.Closed(_logger, Current.LeaseId);
        }
        catch (RpcException ex)
        {
            Log.CloseFailed(_logger, Current.LeaseId, RpcErrors.Describe(ex.Status));
        }
    }

    public void Dispose()
    {
        _expiry.Dispose();
        _ended.Dispose();
        _sessionKey.Dispose();
    }

    private TimeSpan Remaining => _time.GetElapsedTime(_time.GetTimestamp(), Volatile.Read(ref _expiresAtTimestamp)) is var left && left > TimeSpan.Zero ? left : TimeSpan.Zero;

    /// <summary>One renewal: the new time left, or null when the broker refused and renewing is over.</summary>
    private async Task<TimeSpan?> RenewOnceAsync(CancellationToken cancellationToken)
    {
        var idToken = await _freshIdToken!(cancellationToken).ConfigureAwait(false);
        var request = new RenewSessionRequest { IdToken = idToken };
        if (_requestedTtl is { } ttl)
        {
            request.Ttl = Duration.FromTimeSpan(ttl);
        }

        OpenSessionResponse response;
        try
        {
            response = await _client.RenewSessionAsync(request, Headers(nameof(Broker.BrokerClient.RenewSession), string.Empty), DateTime.UtcNow + TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException ex) when (ex.StatusCode is StatusCode.PermissionDenied or StatusCode.FailedPrecondition or StatusCode.Unauthenticated)
        {
            Log.RenewalRefused(_logger, Current.LeaseId, RpcErrors.Describe(ex.Status), Current.ExpiresAt.ToDateTimeOffset());
            return null;
        }

        var lease = response.Lease;
        var left = TimeLeft(lease);
        Volatile.Write(ref _current, lease);
        Volatile.Write(ref _expiresAtTimestamp, _time.GetTimestamp() + (long)(left.TotalSeconds * _time.TimestampFrequency));
        _expiry.Change(left, Timeout.InfiniteTimeSpan);
        Log.Renewed(_logger, lease.LeaseId, lease.ExpiresAt.ToDateTimeOffset());
        return left;
    }

    /// <summary>Time left by the broker's count, not by comparing its clock with ours.</summary>
    private static TimeSpan TimeLeft(Lease lease)
    {
        var ttl = lease.Ttl?.ToTimeSpan() ?? TimeSpan.Zero;
        return ttl <= TimeSpan.Zero ? TimeSpan.Zero : Min(ttl, MaxLeaseTimer);
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static partial class Log
    {
        [LoggerMessage(40, LogLevel.Information, "Lease {LeaseId} renewed until {ExpiresAt:u}", EventName = "LeaseRenewed")]
        public static partial void Renewed(ILogger logger, string leaseId, DateTimeOffset expiresAt);

        [LoggerMessage(41, LogLevel.Warning, "Lease {LeaseId} was not renewed: {Reason}; its connections end at {ExpiresAt:u}", EventName = "LeaseRenewalRefused")]
        public static partial void RenewalRefused(ILogger logger, string leaseId, string reason, DateTimeOffset expiresAt);

        [LoggerMessage(42, LogLevel.Warning, "Renewing lease {LeaseId} failed ({Reason}); retrying in {DelaySeconds:0.#} s", EventName = "LeaseRenewalRetry")]
        public static partial void RenewalRetry(ILogger logger, string leaseId, string reason, double delaySeconds);

        [LoggerMessage(43, LogLevel.Warning, "The id-token came from a file or variable, so lease {LeaseId} cannot be renewed; it ends at {ExpiresAt:u}", EventName = "LeaseCannotRenew")]
        public static partial void CannotRenew(ILogger logger, string leaseId, DateTimeOffset expiresAt);

        [LoggerMessage(46, LogLevel.Warning, "Lease {LeaseId} has reached its maximum life and ends at {ExpiresAt:u}; after that, open a new session", EventName = "LeaseAtMaximumLife")]
        public static partial void AtMaximumLife(ILogger logger, string leaseId, DateTimeOffset expiresAt);

        [LoggerMessage(44, LogLevel.Information, "Lease {LeaseId} closed at the broker", EventName = "LeaseClosed")]
        public static partial void Closed(ILogger logger, string leaseId);

        [LoggerMessage(45, LogLevel.Warning, "Closing lease {LeaseId} at the broker failed ({Reason}); it lapses at expiry", EventName = "LeaseCloseFailed")]
        public static partial void CloseFailed(ILogger logger, string leaseId, string reason);
    }
}
