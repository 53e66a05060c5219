using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace GitHubActionsPort.Broker.Tls;

/// <summary>
/// Gives each TLS connection a memory pool of 64 KiB blocks in place of Kestrel's 4 KiB ones, so that its TLS layer
/// encrypts full-size records.
/// </summary>
/// <remarks>
/// Kestrel wraps a TLS connection's <see cref="System.Net.Security.SslStream"/> in a pipe built on the connection's
/// memory pool (<see cref="IMemoryPoolFeature"/>), and that pipe hands each pool block to the stream as a write of
/// its own: with Kestrel's 4 KiB blocks every 4 KiB became one TLS record where 16 KiB are allowed, each paying the
/// fixed cost of a record and of an SslStream write, and the agent as many decryptions. The connection's HTTP/2
/// buffers (a stream's request and response pipes) take their blocks from the same feature; measured with
/// <c>ghaport-harness lane-cost</c>, letting them have the large blocks too cost less broker CPU both ways than
/// lending the pool to the TLS pipe alone. A pipe gives its blocks back once its reader has consumed everything, so
/// an idle tunnel or connection still holds none; the socket itself keeps reading and writing through Kestrel's
/// pool. Plain h2c connections are left as they are.
/// </remarks>
internal static class TlsWriteBuffering
{
    /// <summary>
    /// 64 KiB: one write of four full 16 KiB records, and one 64 KiB data frame in one or two blocks. Measured
    /// against 16 KiB blocks, it cost less CPU per GB both ways.
    /// </summary>
    internal const int BlockSize = 64 * 1024;

    private static readonly IMemoryPoolFeature LargeBlocks = new PoolFeature(new LargeBlockMemoryPool(BlockSize));

    /// <summary>
    /// Adds the middleware to <paramref name="endpoint"/>, ahead of its TLS middleware; it acts only if the endpoint
    /// turns out to use TLS.
    /// </summary>
    public static void UseLargeTlsBuffers(this ListenOptions endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        endpoint.Use(next =>
        {
            // The chain is built once the endpoint is bound, by which time an https:// endpoint has its TLS
            // middleware (as next) and says so in its name (ToString gives the scheme and address).
            if (endpoint.ToString()?.StartsWith("https://", StringComparison.OrdinalIgnoreCase) != true)
            {
                return next;
            }

            return context =>
            {
                context.Features.Set(LargeBlocks);
                return next(context);
            };
        });
    }

    private sealed class PoolFeature(System.Buffers.MemoryPool<byte> pool) : IMemoryPoolFeature
    {
        public System.Buffers.MemoryPool<byte> MemoryPool => pool;
    }
}
