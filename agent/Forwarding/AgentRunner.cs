using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Security.Cryptography;
using GitHubActionsPort.Agent.Cli;
using GitHubActionsPort.Agent.Tokens;
using GitHubActionsPort.Protocol.V1;

namespace GitHubActionsPort.Agent.Forwarding;

/// <summary>
/// One <c>ghaport up</c>: listen on every forward, exchange the id-token for a lease, print the ready lines, then
/// tunnel each accepted connection until stopped or until the lease ends.
/// </summary>
public static partial class AgentRunner
{
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Runs until <paramref name="stopping"/> fires (exit 0) or the lease ends (exit 8); failures throw <see cref="AgentException"/>.</summary>
    public static async Task<int> RunAsync(UpArguments args, AgentContext context, CancellationToken stopping)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(context);
        var logger = context.LoggerFactory.CreateLogger("ghaport");
        if (args.Broker.Scheme == Uri.UriSchemeHttp && !args.Broker.IsLoopback)
        {
            Log.PlainTextBroker(logger, args.Broker);
        }

        var listeners = new List<ForwardListener>();
        try
        {
            foreach (var forward in args.Forwards)
            {
                listeners.Add(ForwardListener.Bind(forward));
            }

            var idToken = await IdTokenSource.GetAsync(args, context.Environment, stopping).ConfigureAwait(false);
            using var channel = BrokerChannel.Create(args.Broker, context.Transport, context.LoggerFactory);
            var client = new Broker.BrokerClient(channel);

            // Made in memory for this session only: the lease is bound to it, so the lease token alone opens nothing.
            var sessionKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            Lease lease;
            try
            {
                lease = await SessionOpener.OpenAsync(client, args.Broker, idToken, sessionKey.ExportSubjectPublicKeyInfo(), args.Forwards.Select(f => f.Target), args.Ttl, context.Transport.SessionTimeout, stopping).ConfigureAwait(false);
            }
            catch
            {
                sessionKey.Dispose();
                throw;
            }

            Log.SessionOpened(logger, lease.LeaseId, lease.ExpiresAt.ToDateTimeOffset(), lease.MaxConnections);

            using var keeper = new LeaseKeeper(client, sessionKey, lease, IdTokenSource.FreshTokens(args, context.Environment), args.Ttl, context.Time, logger);
            using var tunnelsEnd = CancellationTokenSource.CreateLinkedTokenSource(stopping, keeper.Ended);
            var renewing = keeper.KeepRenewingAsync(tunnelsEnd.Token);
            var tunnels = new TunnelClient(client, keeper, logger);
            var running = new ConcurrentDictionary<Task, bool>();
            void Handle(Socket socket, ForwardSpec forward)
            {
                var task = tunnels.RunAsync(socket, forward, tunnelsEnd.Token);
                running.TryAdd(task, true);
                _ = task.ContinueWith(t => running.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }

            var accepting = listeners.Select(l => l.AcceptAsync(Handle, logger, context.Time, tunnelsEnd.Token)).ToList();
            foreach (var listener in listeners)
            {
                await context.Out.WriteLineAsync($"ready {listener.LocalEndPoint} -> {listener.Forward.Target}").ConfigureAwait(false);
            }

            await context.Out.FlushAsync(CancellationToken.None).ConfigureAwait(false);
            await Task.WhenAll(accepting).ConfigureAwait(false);

            // Accept loops end on stop or lease end; tunnels were cancelled by the same token and now wind down.
            var draining = Task.WhenAll(running.Keys);
            await Task.WhenAny(draining, Task.Delay(DrainTimeout, context.Time, CancellationToken.None)).ConfigureAwait(false);

            await renewing.ConfigureAwait(false);
            if (keeper.Ended.IsCancellationRequested && !stopping.IsCancellationRequested)
            {
                throw new AgentException(ExitCodes.LeaseEnded, $"lease {keeper.Current.LeaseId} expired at {keeper.Current.ExpiresAt.ToDateTimeOffset():u}; open a new session with a fresh id-token");
            }

            await keeper.CloseAsync(CloseTimeout).ConfigureAwait(false);
            Log.Stopped(logger, keeper.Current.LeaseId);
            return ExitCodes.Ok;
        }
        finally
        {
            foreach (var listener in listeners)
            {
                listener.Dispose();
            }
        }
    }


    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Session open: lease {LeaseId} until {ExpiresAt:u}, at most {MaxConnections} connections at once", EventName = "SessionOpened")]
        public static partial void SessionOpened(ILogger logger, string leaseId, DateTimeOffset expiresAt, int maxConnections);

        [LoggerMessage(2, LogLevel.Information, "Stopped; every tunnel of lease {LeaseId} is closed", EventName = "Stopped")]
        public static partial void Stopped(ILogger logger, string leaseId);

        [LoggerMessage(3, LogLevel.Warning, "The broker {Broker} is plain http on a non-loopback address: traffic and tokens cross the network unencrypted", EventName = "PlainTextBroker")]
        public static partial void PlainTextBroker(ILogger logger, Uri broker);
    }
}
