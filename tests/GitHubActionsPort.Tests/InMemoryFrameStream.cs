using System.Threading.Channels;
using GitHubActionsPort.Protocol.V1;
using Grpc.Core;

namespace GitHubActionsPort.Tests;

/// <summary>
/// The far end of a gRPC stream, in memory, for unit tests of the splice: what the splice writes is kept in order,
/// and the test feeds what it reads, including a failure in place of the next frame.
/// </summary>
internal sealed class InMemoryFrameStream : IAsyncStreamReader<TunnelFrame>, IAsyncStreamWriter<TunnelFrame>
{
    private readonly Channel<TunnelFrame> _incoming = Channel.CreateUnbounded<TunnelFrame>();
    private readonly List<TunnelFrame> _written = [];
    private readonly Lock _lock = new();

    public TunnelFrame Current { get; private set; } = null!;

    public WriteOptions? WriteOptions { get; set; }

    public IReadOnlyList<TunnelFrame> Written
    {
        get
        {
            lock (_lock)
            {
                return _written.ToArray();
            }
        }
    }

    public void Feed(TunnelFrame frame) => _incoming.Writer.TryWrite(frame);

    public void FeedEnd() => _incoming.Writer.TryWrite(new TunnelFrame { End = new EndOfStream() });

    /// <summary>An end-of-stream frame and then the end of the stream: the far end finished cleanly.</summary>
    public void FeedEndAndComplete()
    {
        FeedEnd();
        Complete();
    }

    /// <summary>The stream ends without a frame (the peer completed its side).</summary>
    public void Complete() => _incoming.Writer.TryComplete();

    /// <summary>The next read fails, as a reset stream or an error status does.</summary>
    public void Fail(Exception error) => _incoming.Writer.TryComplete(error);

    public async Task<bool> MoveNext(CancellationToken cancellationToken)
    {
        if (!await _incoming.Reader.WaitToReadAsync(cancellationToken))
        {
            return false;
        }

        Current = await _incoming.Reader.ReadAsync(cancellationToken);
        return true;
    }

    public Task WriteAsync(TunnelFrame message) => WriteAsync(message, CancellationToken.None);

    /// <summary>Grpc.Core.Api's default for this overload refuses cancellable tokens; gRPC's real writers accept them.</summary>
    public Task WriteAsync(TunnelFrame message, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        // The splice wraps pooled buffers; copy as gRPC's serializer would before the write completes.
        var copy = message.Clone();
        if (message.KindCase == TunnelFrame.KindOneofCase.Data)
        {
            copy.Data = Google.Protobuf.ByteString.CopyFrom(message.Data.Span);
        }

        lock (_lock)
        {
            _written.Add(copy);
        }

        return Task.CompletedTask;
    }
}
