using GitHubActionsPort.Agent.Forwarding;
using GitHubActionsPort.Protocol.V1;
using Google.Protobuf;
using Grpc.Core;

namespace GitHubActionsPort.Tests;

/// <summary>Tunnel calls made by hand over a <see cref="BrokerChannel"/>, the way the agent makes them, for tests of the channel itself.</summary>
internal static class TunnelCalls
{
    public static async Task<AsyncDuplexStreamingCall<TunnelFrame, TunnelFrame>> ConnectAsync(TunnelConnection connection, RawSession session, string target)
    {
        var call = connection.Client.Tunnel(session.Headers("Tunnel", target));
        var headers = await call.ResponseHeadersAsync.DefaultTimeout();
        Assert.That(headers.GetValue(Protocol.WireLimits.ConnectedHeader), Is.Not.Null, $"the broker connected {target}");
        return call;
    }

    /// <summary>Writes 64 KiB data frames as fast as flow control lets it, until told to stop.</summary>
    public static async Task UploadUntilStoppedAsync(AsyncDuplexStreamingCall<TunnelFrame, TunnelFrame> call, CancellationToken stop)
    {
        var frame = new TunnelFrame { Data = ByteString.CopyFrom(SocketIo.RandomBytes(Protocol.WireLimits.MaxChunkSize)) };
        while (!stop.IsCancellationRequested)
        {
            await call.RequestStream.WriteAsync(frame, CancellationToken.None);
        }
    }

    /// <summary>Writes <paramref name="count"/> bytes in 64 KiB data frames.</summary>
    public static async Task UploadAsync(AsyncDuplexStreamingCall<TunnelFrame, TunnelFrame> call, long count)
    {
        var block = ByteString.CopyFrom(SocketIo.RandomBytes(Protocol.WireLimits.MaxChunkSize));
        for (var sent = 0L; sent < count; sent += block.Length)
        {
            var frame = count - sent >= block.Length ? new TunnelFrame { Data = block } : new TunnelFrame { Data = ByteString.CopyFrom(block.Span[..(int)(count - sent)]) };
            await call.RequestStream.WriteAsync(frame);
        }
    }

    /// <summary>Reads data frames until <paramref name="count"/> bytes have come.</summary>
    public static async Task<byte[]> ReadAsync(AsyncDuplexStreamingCall<TunnelFrame, TunnelFrame> call, int count)
    {
        var received = new List<byte>(count);
        while (received.Count < count && await call.ResponseStream.MoveNext())
        {
            received.AddRange(call.ResponseStream.Current.Data.ToByteArray());
        }

        return [.. received];
    }

    /// <summary>Ends our side and reads the broker's side to its clean end.</summary>
    public static async Task EndAsync(AsyncDuplexStreamingCall<TunnelFrame, TunnelFrame> call)
    {
        await call.RequestStream.WriteAsync(new TunnelFrame { End = new EndOfStream() });
        await call.RequestStream.CompleteAsync();
        while (await call.ResponseStream.MoveNext())
        {
        }

        Assert.That(call.GetStatus().StatusCode, Is.EqualTo(StatusCode.OK));
    }
}
