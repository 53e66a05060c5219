using System.Runtime.CompilerServices;

namespace GitHubActionsPort.TestSupport;

/// <summary>Every await in a test is bounded: a hang becomes a failure that names what was awaited.</summary>
public static class TaskTimeouts
{
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(30);

    public static Task DefaultTimeout(this Task task, [CallerArgumentExpression(nameof(task))] string? what = null) =>
        task.WithTimeout(Default, what);

    public static Task<T> DefaultTimeout<T>(this Task<T> task, [CallerArgumentExpression(nameof(task))] string? what = null) =>
        task.WithTimeout(Default, what);

    public static async Task WithTimeout(this Task task, TimeSpan timeout, [CallerArgumentExpression(nameof(task))] string? what = null)
    {
        ArgumentNullException.ThrowIfNull(task);
        try
        {
            await task.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0.#} s waiting for {what}.");
        }
    }

    public static async Task<T> WithTimeout<T>(this Task<T> task, TimeSpan timeout, [CallerArgumentExpression(nameof(task))] string? what = null)
    {
        ArgumentNullException.ThrowIfNull(task);
        try
        {
            return await task.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0.#} s waiting for {what}.");
        }
    }
}
