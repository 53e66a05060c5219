using System.Net.Sockets;

namespace GitHubActionsPort.Tests;

/// <summary>A target that swallows whatever it is sent and counts it, then closes when the sender does.</summary>
internal sealed class CountingSink
{
    private long _taken;
    private Waiter? _waiter;

    public CountingSink() => Server = new TcpTestServer(SwallowAsync);

    public TcpTestServer Server { get; }

    public long Taken => Interlocked.Read(ref _taken);

    /// <summary>Completes once the sink has taken <paramref name="total"/> bytes in all; one wait at a time.</summary>
    public Task WhenTaken(long total)
    {
        var waiter = new Waiter(total);
        Volatile.Write(ref _waiter, waiter);
        waiter.Check(Taken);
        return waiter.Reached.Task;
    }

    private async Task SwallowAsync(Socket socket, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        int read;
        while ((read = await socket.ReceiveAsync(buffer, cancellationToken)) > 0)
        {
            var taken = Interlocked.Add(ref _taken, read);
            Volatile.Read(ref _waiter)?.Check(taken);
        }

        socket.Shutdown(SocketShutdown.Send);
    }

    private sealed class Waiter(long total)
    {
        public TaskCompletionSource Reached { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Check(long taken)
        {
            if (taken >= total)
            {
                Reached.TrySetResult();
            }
        }
    }
}
