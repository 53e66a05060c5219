using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using GitHubActionsPort.Agent.Background;
using GitHubActionsPort.Agent.Cli;
using GitHubActionsPort.Agent.Forwarding.Failover;
using GitHubActionsPort.Agent.Forwarding.RawLane;
using GitHubActionsPort.Agent.GitHub;
using GitHubActionsPort.Agent.Tokens;
using GitHubActionsPort.Protocol.V1;

namespace GitHubActionsPort.Agent.Forwarding;

/// <summary>
/// One <c>ghaport up</c>: listen on every forward, exchange the id-token for a lease, prove each target reachable
/// when asked, print the ready lines, then tunnel each accepted connection until stopped, told to go down, or the
/// lease ends.
/// </summary>
public static partial class AgentRunner
{
    /// <summary>The line a background agent prints after its ready lines; the launcher returns on it.</summary>
    public const string DetachedLine = "detached";

    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Runs until <paramref name="stopping"/> fires (exit 0) or the lease ends (exit 8); failures throw <see cref="AgentException"/>.</summary>
    public static async Task<int> RunAsync(UpArguments args, AgentContext context, CancellationToken stopping)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(context);
        var logger = context.LoggerFactory.CreateLogger("ghaport");
        var github = new GitHubWorkflow(context.Environment, context.Out);
        foreach (var plain in args.Brokers.Where(b => b.Scheme == Uri.UriSchemeHttp && !b.IsLoopback))
        {
            Log.PlainTextBroker(logger, plain);
        }

        var listeners = new List<ForwardListener>();
        try
        {
            foreach (var forward in args.Forwards)
            {
                listeners.Add(ForwardListener.Bind(forward));
            }

            // Only with --allow-remote-clients (the parser refuses it otherwise): said where the job's owner looks.
            foreach (var remote in listeners.Where(l => !l.Forward.IsLoopback))
            {
                Log.RemoteClientsAllowed(logger, remote.LocalEndPoint, remote.Forward.Target);
                github.AppendSummaryWarning(
                    $"the forward {remote.LocalEndPoint} -> {remote.Forward.Target} listens on an address other machines can reach (--allow-remote-clients): anyone who reaches it uses this job's lease");
            }

            var idToken = await IdTokenSource.GetAsync(args, context.Environment, stopping).ConfigureAwait(false);
            // Masked before anything could print it: GitHub then hides it in every later log line of the job.
            github.Mask(idToken);
            using var route = await RouteAsync(args, context, logger, stopping).ConfigureAwait(false);
            var freshTokens = IdTokenSource.FreshTokens(args, context.Environment);

            // Made in memory for this session only: the lease is bound to it, so the lease token alone opens nothing.
            var sessionKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            Lease lease;
            try
            {
                lease = await OpenSessionAsync(route, args, context, idToken, freshTokens, sessionKey.ExportSubjectPublicKeyInfo(), logger, stopping).ConfigureAwait(false);
            }
            catch
            {
                sessionKey.Dispose();
                throw;
            }

            github.Mask(lease.Token);
            var openedAt = context.Time.GetUtcNow();
            Log.SessionOpened(logger, lease.LeaseId, lease.ExpiresAt.ToDateTimeOffset(), lease.MaxConnections);

            using var keeper = new LeaseKeeper(
                route, sessionKey, lease, freshTokens, args.Ttl, context.Time, logger,
                targets: args.Forwards.Select(f => f.Target), broker: args.Broker, sessionTimeout: context.Transport.SessionTimeout);
            using var down = new CancellationTokenSource();
            using var tunnelsEnd = CancellationTokenSource.CreateLinkedTokenSource(stopping, keeper.Ended, down.Token);
            var renewing = keeper.KeepRenewingAsync(tunnelsEnd.Token);
            var watching = keeper.KeepWatchingAsync(tunnelsEnd.Token);
            var stats = context.Stats;
            RefuseUnofferedLane(args, lease, route.Current);
            await using var rawLane = args.Lane == DataLane.Grpc ? null
                : new RawLanePool(new RawLaneDialer(route, keeper, context.Transport.ConnectTimeout, args.CaCertificates), keeper, logger);
            var tunnels = new TunnelClient(keeper, stats, logger, args.Lane, rawLane, context.Time);
            var forwards = listeners.Select(l => (l.Forward.Target, l.LocalEndPoint)).ToList();
            var endReason = "stopped";
            var leaseSettled = false;
            var finished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            try
            {
                if (args.Probe)
                {
                    await ProbeAsync(tunnels, args, logger, tunnelsEnd.Token).ConfigureAwait(false);
                }

                var running = new ConcurrentDictionary<Task, bool>();
                var peers = LocalPeerGuard.Create(args.AllowAnyLocalUser, logger, context.Time);
                void Handle(Socket socket, ForwardSpec forward)
                {
                    if (peers is not null && !peers.Admit(socket, forward))
                    {
                        return;
                    }

                    var task = tunnels.RunAsync(socket, forward, tunnelsEnd.Token);
                    running.TryAdd(task, true);
                    _ = task.ContinueWith(t => running.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                }

                var accepting = listeners.Select(l => l.AcceptAsync(Handle, logger, context.Time, tunnelsEnd.Token)).ToList();
                await using var control = StartControl(args, context, keeper, listeners, stats, openedAt, down, finished.Task, logger);
                foreach (var (target, address) in forwards)
                {
                    await context.Out.WriteLineAsync($"ready {address} -> {target}").ConfigureAwait(false);
                }

                github.WriteOutputs(forwards, keeper.Current.ExpiresAt.ToDateTimeOffset(), keeper.Current.LeaseId);
                if (args.Background)
                {
                    // The launcher relays it to the step's log: which broker carries the job, and which others it may use.
                    var brokers = route.Endpoints;
                    await context.Out.WriteLineAsync(brokers.Count > 1
                        ? $"broker {route.Current.Endpoint.Name} in use (brokers: {string.Join(", ", brokers.Select(b => b.Name))})"
                        : $"broker {route.Current.Endpoint.Name} in use").ConfigureAwait(false);
                    await context.Out.WriteLineAsync(DetachedLine).ConfigureAwait(false);
                }

                await context.Out.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                await Task.WhenAll(accepting).ConfigureAwait(false);

                // Not listening any more: a new local connection is refused at once rather than queued unanswered.
                foreach (var listener in listeners)
                {
                    listener.Dispose();
                }

                // Accept loops end on stop, down or lease end; tunnels were cancelled by the same token and wind down.
                var draining = Task.WhenAll(running.Keys);
                await Task.WhenAny(draining, Task.Delay(DrainTimeout, context.Time, CancellationToken.None)).ConfigureAwait(false);
                await renewing.ConfigureAwait(false);
                await watching.ConfigureAwait(false);
                if (keeper.Ended.IsCancellationRequested && !stopping.IsCancellationRequested && !down.IsCancellationRequested)
                {
                    leaseSettled = true;
                    var ended = keeper.EndedForGood is { } why
                        ? new AgentException(ExitCodes.LeaseEnded, $"the broker ended the job's access, so no new session is opened: {why}")
                        : new AgentException(ExitCodes.LeaseEnded, $"lease {keeper.Current.LeaseId} expired at {keeper.Current.ExpiresAt.ToDateTimeOffset():u}; open a new session with a fresh id-token");
                    endReason = keeper.EndedForGood ?? "lease expired";
                    if (args.Background && args.StateDirectory is not null)
                    {
                        // Nobody reads a background agent's exit code: 'ghaport status' and 'down' read this instead.
                        EndedState.Write(StateDirectory.Resolve(args.StateDirectory, context.Environment, create: true), Status(keeper, listeners, stats, openedAt, ended.Message));
                    }

                    throw ended;
                }

                endReason = down.IsCancellationRequested ? "ghaport down" : "stopped";
                leaseSettled = true;
                await keeper.CloseAsync(CloseTimeout).ConfigureAwait(false);
                Log.Stopped(logger, keeper.Current.LeaseId);
                finished.TrySetResult();
                return ExitCodes.Ok;
            }
            catch (AgentException ex) when (ex.ExitCode != ExitCodes.LeaseEnded)
            {
                endReason = ex.Message;
                throw;
            }
            finally
            {
                if (!leaseSettled)
                {
                    // Failed after the grant (a probe, a lane the broker lacks): the lease must not outlive the run.
                    await keeper.CloseAsync(CloseTimeout).ConfigureAwait(false);
                }

                finished.TrySetResult();
                // A background agent's summary belongs to the step that runs 'ghaport down', which writes it.
                if (!args.Background)
                {
                    github.AppendSummary(keeper.Current.LeaseId, forwards, stats.Snapshot(), openedAt, context.Time.GetUtcNow(), endReason);
                }
            }
        }
        finally
        {
            foreach (var listener in listeners)
            {
                listener.Dispose();
            }
        }
    }

    /// <summary>A lane asked for by name that the broker has off is a failure now, not a refusal of every connection.</summary>
    private static void RefuseUnofferedLane(UpArguments args, Lease lease, BrokerLink broker)
    {
        if (args.Lane == DataLane.Raw && lease.RawLanePort == 0)
        {
            throw new AgentException(ExitCodes.BrokerUnreachable, $"--lane raw: the broker {broker.Endpoint.Url} does not offer the raw lane (Broker:Lanes:Raw:Enabled is false there); use --lane auto or grpc");
        }

        if (args.Lane == DataLane.Grpc && lease.GrpcLaneOff)
        {
            throw new AgentException(ExitCodes.BrokerUnreachable, $"--lane grpc: the broker {broker.Endpoint.Url} carries tunnels on its raw lane only (Broker:Lanes:Grpc:Enabled is false there); use --lane auto or raw");
        }
    }

    /// <summary>
    /// The brokers to use, each <c>--broker</c> URL expanded to the addresses its host name resolves to now (and again
    /// when every one of them has failed). Exit 4 when none resolves.
    /// </summary>
    private static async Task<BrokerRoute> RouteAsync(UpArguments args, AgentContext context, ILogger logger, CancellationToken stopping)
    {
        var (endpoints, unresolved) = await BrokerAddresses.ExpandAsync(args.Brokers, context.ResolveHost, stopping).ConfigureAwait(false);
        if (endpoints.Count == 0)
        {
            throw new AgentException(ExitCodes.BrokerUnreachable, args.Brokers.Count == 1
                ? $"cannot reach the broker at {args.Broker}: {unresolved[0]}"
                : $"no broker can be reached: {string.Join("; ", unresolved)}");
        }

        foreach (var reason in unresolved)
        {
            Log.BrokerUnresolved(logger, reason);
        }

        return new BrokerRoute(
            endpoints,
            endpoint =>
            {
                var channel = BrokerChannel.Create(endpoint.Url, context.Transport, context.LoggerFactory, args.CaCertificates, endpoint.Address);
                return (channel, new Broker.BrokerClient(channel));
            },
            context.Time,
            logger,
            async ct => (await BrokerAddresses.ExpandAsync(args.Brokers, context.ResolveHost, ct).ConfigureAwait(false)).Endpoints);
    }

    /// <summary>
    /// Opens the session at the first broker that answers, in order: one that cannot be reached (or is draining, or
    /// unavailable) passes the same id-token on to the next, since it never took it. An answer in the broker's own
    /// right (the token rejected, a target denied) is final: another instance of the same deployment would say the
    /// same, and a single-use token is not offered around. One exception: a broker that failed after it may have
    /// checked the token (it answered, then said it was unavailable) can have used it up, so when the next one rejects
    /// it and fresh tokens can be had, that one is asked once more with a fresh token.
    /// </summary>
    private static async Task<Lease> OpenSessionAsync(
        BrokerRoute route, UpArguments args, AgentContext context, string idToken, Func<CancellationToken, Task<string>>? freshTokens, byte[] sessionPublicKey, ILogger logger, CancellationToken stopping)
    {
        var failures = new List<string>();
        var mayBeUsed = false;
        var refreshed = false;
        for (var i = 0; i < route.Count; i++)
        {
            var link = route.At(i);
            try
            {
                var lease = await SessionOpener.OpenAsync(link.Client, link.Endpoint.Url, idToken, sessionPublicKey, args.Forwards.Select(f => f.Target), args.Ttl, context.Transport.SessionTimeout, stopping).ConfigureAwait(false);
                route.Use(link);
                route.Learned(link, lease);
                if (i > 0)
                {
                    Log.SessionOpenedAt(logger, link.Endpoint.Name, i);
                }

                return lease;
            }
            catch (AgentException ex) when (ex.ExitCode == ExitCodes.TokenRejected && mayBeUsed && !refreshed && freshTokens is not null)
            {
                refreshed = true;
                idToken = await freshTokens(stopping).ConfigureAwait(false);
                new GitHubWorkflow(context.Environment, context.Out).Mask(idToken);
                i--;
            }
            catch (AgentException ex) when (route.Count > 1 && ex.InnerException is Grpc.Core.RpcException rpc && BrokerGone.Cause(rpc.Status) is { } cause)
            {
                // A refused or failed connection never carried the token, nor did a draining broker (it refuses first);
                // another answer (unavailable: its audit trail or store) may have come after it checked the token.
                mayBeUsed |= (rpc.Status.DebugException is null && !Protocol.BrokerDraining.IsDraining(rpc.Status)) || rpc.StatusCode == Grpc.Core.StatusCode.DeadlineExceeded;
                failures.Add($"{link.Endpoint.Name}: {ex.Message}");
                if (i + 1 < route.Count)
                {
                    Log.SessionOpenMovedOn(logger, link.Endpoint.Name, cause, route.At(i + 1).Endpoint.Name);
                }
            }
        }

        throw new AgentException(ExitCodes.BrokerUnreachable, $"no broker could open the session: {string.Join("; ", failures)}");
    }

    /// <summary>Dials every target through the broker: readiness proven end to end, not just a bound port.</summary>
    private static async Task ProbeAsync(TunnelClient tunnels, UpArguments args, ILogger logger, CancellationToken cancellationToken)
    {
        foreach (var target in args.Forwards.Select(f => f.Target).Distinct(StringComparer.Ordinal))
        {
            var failure = await tunnels.ProbeAsync(target, cancellationToken).ConfigureAwait(false);
            if (failure is not null)
            {
                throw new AgentException(ExitCodes.NotReady, $"target '{target}' did not answer through the broker: {failure} (use --no-probe for a target that must not see an extra connection)");
            }

            Log.ProbeSucceeded(logger, target);
        }
    }

    /// <summary>
    /// What <c>ghaport status</c> shows: the broker in use and every broker, the lease and each forward's own counts;
    /// <paramref name="ended"/> once it has ended.
    /// </summary>
    private static AgentStatus Status(LeaseKeeper keeper, IReadOnlyList<ForwardListener> listeners, ForwardStats stats, DateTimeOffset openedAt, string? ended = null) =>
        new(
            Environment.ProcessId,
            keeper.Route.Current.Endpoint.Name,
            keeper.Current.LeaseId,
            keeper.Current.ExpiresAt.ToDateTimeOffset(),
            openedAt,
            listeners.Select(l => ForwardStatus.From(l.LocalEndPoint.ToString(), stats.Of(l.Forward), l.Forward.Target)).ToList())
        {
            Ended = ended,
            Brokers = keeper.Route.Endpoints.Select(e => e.Name).ToList(),
        };

    /// <summary>The control socket for <c>ghaport status</c> and <c>down</c>, when the agent keeps a state folder.</summary>
    private static ControlServer? StartControl(
        UpArguments args,
        AgentContext context,
        LeaseKeeper keeper,
        IReadOnlyList<ForwardListener> listeners,
        ForwardStats stats,
        DateTimeOffset openedAt,
        CancellationTokenSource down,
        Task finished,
        ILogger logger)
    {
        if (args.StateDirectory is null)
        {
            return null;
        }

        var state = StateDirectory.Resolve(args.StateDirectory, context.Environment, create: true);
        string Status() =>
            JsonSerializer.Serialize(
                AgentRunner.Status(keeper, listeners, stats, openedAt, keeper.Ended.IsCancellationRequested ? keeper.EndReason : null),
                AgentStatusJson.Default.AgentStatus).ReplaceLineEndings(" ");

        async Task<string> Down()
        {
            Log.DownRequested(logger, keeper.Current.LeaseId);
            await down.CancelAsync().ConfigureAwait(false);
            // Reply once the session is closed at the broker, with the final totals: 'ghaport down' reports them
            // in its own step's summary (a background agent's step has long ended).
            await Task.WhenAny(finished, Task.Delay(TimeSpan.FromSeconds(10), context.Time)).ConfigureAwait(false);
            return Status();
        }

        return ControlServer.Start(state.ControlSocket, Status, Down, logger);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Session open: lease {LeaseId} until {ExpiresAt:u}, at most {MaxConnections} connections at once", EventName = "SessionOpened")]
        public static partial void SessionOpened(ILogger logger, string leaseId, DateTimeOffset expiresAt, int maxConnections);

        [LoggerMessage(2, LogLevel.Information, "Stopped; every tunnel of lease {LeaseId} is closed", EventName = "Stopped")]
        public static partial void Stopped(ILogger logger, string leaseId);

        [LoggerMessage(3, LogLevel.Warning, "The broker {Broker} is plain http on a non-loopback address: traffic and tokens cross the network unencrypted", EventName = "PlainTextBroker")]
        public static partial void PlainTextBroker(ILogger logger, Uri broker);

        [LoggerMessage(4, LogLevel.Information, "Probe: target {Target} answered through the broker", EventName = "ProbeSucceeded")]
        public static partial void ProbeSucceeded(ILogger logger, string target);

        [LoggerMessage(5, LogLevel.Information, "'ghaport down' asked lease {LeaseId} to end", EventName = "DownRequested")]
        public static partial void DownRequested(ILogger logger, string leaseId);

        [LoggerMessage(7, LogLevel.Warning, "Broker {Broker} cannot open the session ({Cause}); trying broker {Next}", EventName = "SessionOpenMovedOn")]
        public static partial void SessionOpenMovedOn(ILogger logger, string broker, string cause, string next);

        [LoggerMessage(8, LogLevel.Information, "Session opened at broker {Broker} (broker {Position} in order, from 0): the ones before it did not answer", EventName = "SessionOpenedAt")]
        public static partial void SessionOpenedAt(ILogger logger, string broker, int position);

        [LoggerMessage(9, LogLevel.Warning, "A broker is left out: {Reason}", EventName = "BrokerUnresolved")]
        public static partial void BrokerUnresolved(ILogger logger, string reason);

        [LoggerMessage(6, LogLevel.Warning, "The forward {EndPoint} -> {Target} listens on an address other machines can reach (--allow-remote-clients): anyone who reaches it uses this job's lease", EventName = "RemoteClientsAllowed")]
        public static partial void RemoteClientsAllowed(ILogger logger, IPEndPoint endPoint, string target);
    }
}
