using System.Security.Cryptography;
using GitHubActionsPort.Broker.Auth;
using GitHubActionsPort.Broker.Store;

namespace GitHubActionsPort.Broker.Admin;

/// <summary>
/// The standing blocks an administrator placed, checked on every OpenSession and RenewSession. They live in the
/// store, so they outlive a restart and hold at every instance: a block placed through one instance refuses a
/// session at another. Each instance keeps a copy in memory for the hot path, re-read whenever any instance changes
/// a block (<see cref="IStoreChangeListener"/>).
/// </summary>
/// <remarks>
/// Fails closed: while the copy is unknown (never loaded, or the last read failed) a session is checked against the
/// store itself, and refused with <see cref="StoreUnavailableException"/> when the store cannot say; "could not read
/// the blocks" is never taken for "no block".
/// </remarks>
internal sealed class SessionBlocks(IBrokerStore store, TimeProvider time, ILogger<SessionBlocks> logger) : IStoreChangeListener, IDisposable
{
    /// <summary>
    /// Blocks a revocation places by itself (one per revoked run attempt) kept at most; past it the oldest of them is
    /// lifted, with a warning. An operator's own blocks are never lifted but by the operator.
    /// </summary>
    internal const int MaxRevocationBlocks = 10_000;

    /// <summary>
    /// One writer of the copy at a time: a reload that read the store before this instance's own write must not
    /// replace the copy after that write put its block in.
    /// </summary>
    private readonly SemaphoreSlim _writing = new(1, 1);

    /// <summary>The blocks, oldest first; null while unknown (see the remarks).</summary>
    private volatile SessionBlock[]? _copy;

    /// <summary>The store's latest change when the copy was last read whole: every block change up to it is in the copy.</summary>
    private long _copiedAt;

    /// <summary>Every standing block, oldest first, as the store holds it now (listed as stored, even one this broker cannot parse).</summary>
    public Task<IReadOnlyList<BlockRecord>> AllAsync(CancellationToken cancellationToken) => store.BlocksAsync(cancellationToken);

    public async Task<SessionBlock> AddAsync(ClaimSelector selector, string reason, string by, string? revokedLease, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(selector);
        var block = new SessionBlock("blk_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)), selector, reason, by, time.GetUtcNow(), revokedLease);
        await _writing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var known = _copy ?? await LoadAsync(cancellationToken).ConfigureAwait(false);
            if (revokedLease is not null)
            {
                // Counted over the store's blocks (the copy mirrors them): the cap holds across every instance.
                var implicitBlocks = known.Where(b => b.RevokedLease is not null).ToList();
                foreach (var oldest in implicitBlocks.Take(implicitBlocks.Count - MaxRevocationBlocks + 1))
                {
                    await store.RemoveBlockAsync(oldest.Id, cancellationToken).ConfigureAwait(false);
                    known = known.Where(b => b.Id != oldest.Id).ToArray();
                    _copy = known;
                    AdminLog.AttemptBlockDropped(logger, oldest.Id, oldest.RevokedLease!, MaxRevocationBlocks);
                }
            }

            await store.AddBlockAsync(block.ToRecord(), cancellationToken).ConfigureAwait(false);
            _copy = [.. known, block];
            return block;
        }
        catch (StoreUnavailableException)
        {
            // What this instance holds may no longer be what the store holds: read it afresh before the next session.
            _copy = null;
            throw;
        }
        finally
        {
            _writing.Release();
        }
    }

    /// <summary>Lifts the block with <paramref name="id"/>; null when there is none.</summary>
    public async Task<SessionBlock?> RemoveAsync(string id, CancellationToken cancellationToken)
    {
        await _writing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var removed = await store.RemoveBlockAsync(id, cancellationToken).ConfigureAwait(false);
            if (_copy is { } known)
            {
                _copy = known.Where(b => b.Id != id).ToArray();
            }

            return removed is null ? null : SessionBlock.FromRecord(removed);
        }
        catch (StoreUnavailableException)
        {
            _copy = null;
            throw;
        }
        finally
        {
            _writing.Release();
        }
    }

    /// <summary>
    /// The first block that matches <paramref name="caller"/>, or null when none does. From the copy in memory when
    /// it is known; else from the store, throwing <see cref="StoreUnavailableException"/> when that cannot be read.
    /// </summary>
    public ValueTask<SessionBlock?> MatchAsync(CallerIdentity caller, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(caller);
        return MatchAsync(caller.Claims, cancellationToken);
    }

    /// <summary><see cref="MatchAsync(CallerIdentity, CancellationToken)"/> for a lease's claims as the store holds them.</summary>
    public async ValueTask<SessionBlock?> MatchAsync(IReadOnlyDictionary<string, string> claims, CancellationToken cancellationToken)
    {
        var known = _copy ?? await LoadIfUnknownAsync(cancellationToken).ConfigureAwait(false);

        return known.Length == 0 ? null : Array.Find(known, b => b.Selector.Matches(claims));
    }

    /// <summary>
    /// <see cref="MatchAsync(CallerIdentity, CancellationToken)"/> against the store as it is now, for the check after
    /// a grant: a block another instance placed a moment ago, whose change this instance has not read yet, is found
    /// here. Its sweep of live leases may have run before this grant's lease was recorded, so without this check the
    /// lease would escape the block. Costs one read of the changes since the copy, and a reload only when a block changed.
    /// </summary>
    public async ValueTask<SessionBlock?> MatchCurrentAsync(CallerIdentity caller, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(caller);
        const int Limit = 256;
        var changes = await store.ChangesSinceAsync(Interlocked.Read(ref _copiedAt), Limit, cancellationToken).ConfigureAwait(false);
        if (_copy is null || changes.Count == Limit || changes.Any(c => c.Kind == StoreChangeKind.Block))
        {
            await ReloadAsync(cancellationToken).ConfigureAwait(false);
        }

        return await MatchAsync(caller, cancellationToken).ConfigureAwait(false);
    }

    public Task OnChangeAsync(StoreChange change, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(change);
        return change.Kind == StoreChangeKind.Block ? ReloadAsync(cancellationToken) : Task.CompletedTask;
    }

    public async Task ReloadAsync(CancellationToken cancellationToken)
    {
        await _writing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await LoadAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writing.Release();
        }
    }

    /// <summary>
    /// Loads the copy unless the session ahead in the queue already did: sessions waiting on an unknown copy ask the
    /// store one at a time, and those behind a load that succeeded use its result.
    /// </summary>
    private async Task<SessionBlock[]> LoadIfUnknownAsync(CancellationToken cancellationToken)
    {
        await _writing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return _copy ?? await LoadAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writing.Release();
        }
    }

    /// <summary>Reads every block into the copy; on failure the copy is unknown, so sessions fail closed.</summary>
    private async Task<SessionBlock[]> LoadAsync(CancellationToken cancellationToken)
    {
        try
        {
            // The change number first: a change up to it is visible to the read that follows (the store's promise).
            var copiedAt = await store.LatestChangeAsync(cancellationToken).ConfigureAwait(false);
            var records = await store.BlocksAsync(cancellationToken).ConfigureAwait(false);
            var loaded = records.Select(SessionBlock.FromRecord).ToArray();
            Interlocked.Exchange(ref _copiedAt, copiedAt);
            _copy = loaded;
            SessionBlocksLog.Loaded(logger, loaded.Length);
            return loaded;
        }
        catch (Exception ex) when (ex is StoreUnavailableException or InvalidDataException)
        {
            _copy = null;
            SessionBlocksLog.NotLoaded(logger, store.Describe(), ex.Message);
            throw ex as StoreUnavailableException ?? new StoreUnavailableException($"the broker's state store holds a block this broker cannot read: {ex.Message}", ex);
        }
    }

    public void Dispose() => _writing.Dispose();
}
