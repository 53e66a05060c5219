namespace GitHubActionsPort.Protocol.Tunnels;

/// <summary>
/// Bytes counted per chunk but reported to the meter per mebibyte (and at the end): a listening exporter pays a
/// lookup per report, which per 64 KiB chunk cost a tenth of the relay's throughput.
/// </summary>
internal sealed class MeteredBytes(Action<long> report)
{
    private const long ReportEvery = 1024 * 1024;

    private long _unreported;

    public void Add(long count)
    {
        _unreported += count;
        if (_unreported >= ReportEvery)
        {
            Flush();
        }
    }

    public void Flush()
    {
        if (_unreported > 0)
        {
            report(_unreported);
            _unreported = 0;
        }
    }
}
