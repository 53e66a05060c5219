using System.Buffers;

namespace GitHubActionsPort.Broker.Tls;

/// <summary>
/// A memory pool whose every block is at least <see cref="BlockSize"/> bytes, taken from the shared array pool. A
/// pipe writer that rents from it buffers that much before each write to the stream beneath.
/// </summary>
internal sealed class LargeBlockMemoryPool : MemoryPool<byte>
{
    public LargeBlockMemoryPool(int blockSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockSize);
        BlockSize = blockSize;
    }

    public int BlockSize { get; }

    public override int MaxBufferSize => BlockSize;

    /// <summary>A block of <see cref="BlockSize"/> bytes or more; a larger request than that is served, not refused.</summary>
    public override IMemoryOwner<byte> Rent(int minBufferSize = -1) =>
        new Block(ArrayPool<byte>.Shared.Rent(Math.Max(minBufferSize, BlockSize)));

    protected override void Dispose(bool disposing)
    {
        // Blocks go back to the shared array pool one by one; there is nothing of the pool's own to release.
    }

    private sealed class Block(byte[] array) : IMemoryOwner<byte>
    {
        private byte[]? _array = array;

        public Memory<byte> Memory => _array ?? throw new ObjectDisposedException(nameof(LargeBlockMemoryPool));

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _array, null) is { } array)
            {
                ArrayPool<byte>.Shared.Return(array);
            }
        }
    }
}
