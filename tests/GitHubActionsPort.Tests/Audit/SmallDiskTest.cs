namespace GitHubActionsPort.Tests.Audit;

/// <summary>
/// A test that puts an audit trail on a real small filesystem: <see cref="MountAsync"/> mounts it (or skips the test
/// with the reason), and it is unmounted after each test, passed or failed.
/// </summary>
[NonParallelizable]
public abstract class SmallDiskTest
{
    private SmallDisk? _disk;

    /// <summary>Mounts a tmpfs of <paramref name="bytes"/> for this test.</summary>
    protected async Task<SmallDisk> MountAsync(int bytes)
    {
        _disk = await SmallDisk.MountAsync(bytes);
        return _disk;
    }

    [TearDown]
    public async Task UnmountAsync()
    {
        if (_disk is not null)
        {
            await _disk.DisposeAsync();
            _disk = null;
        }
    }
}
