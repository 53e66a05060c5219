namespace GitHubActionsPort.Broker.Tls;

internal static partial class CertificateLog
{
    [LoggerMessage(140, LogLevel.Information, "TLS certificate loaded: subject {Subject}, thumbprint {Thumbprint}, expires {NotAfter:u}", EventName = "CertificateLoaded")]
    public static partial void Loaded(ILogger logger, string subject, string thumbprint, DateTime notAfter);

    [LoggerMessage(141, LogLevel.Information, "TLS certificate reloaded: subject {Subject}, thumbprint {Thumbprint}, expires {NotAfter:u}; live connections keep the one they began with", EventName = "CertificateReloaded")]
    public static partial void Reloaded(ILogger logger, string subject, string thumbprint, DateTime notAfter);

    [LoggerMessage(142, LogLevel.Error, "TLS certificate not reloaded, still serving thumbprint {Thumbprint}: {Cause}", EventName = "CertificateReloadFailed")]
    public static partial void ReloadFailed(ILogger logger, string thumbprint, string cause);
}
