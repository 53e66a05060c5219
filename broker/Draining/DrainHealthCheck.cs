using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace GitHubActionsPort.Broker.Draining;

/// <summary>
/// The broker's gRPC health (grpc.health.v1 on the job-facing port): NotServing while it drains, so a balancer that
/// asks stops sending it new connections while its open tunnels finish.
/// </summary>
internal sealed class DrainHealthCheck(BrokerDrain drain) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(drain.IsDraining
            ? HealthCheckResult.Unhealthy("draining: new sessions and tunnels are refused while open tunnels finish")
            : HealthCheckResult.Healthy("serving sessions and tunnels"));
}
