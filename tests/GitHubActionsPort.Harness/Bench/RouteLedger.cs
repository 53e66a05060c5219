using GitHubActionsPort.Harness.Bench.Routes;

namespace GitHubActionsPort.Harness.Bench;

/// <summary>
/// What happened to each route asked for: started, skipped, failed at start, or failed in some scenario. A route's
/// trouble is written down here and the bench goes on with the others.
/// </summary>
internal sealed class RouteLedger
{
    private readonly Dictionary<RouteSpec, (string State, string? Reason, string? Description)> _states = [];
    private readonly Dictionary<RouteSpec, List<string>> _failures = [];
    private readonly Lock _lock = new();

    public void Started(RouteSpec route, string description) => Set(route, RouteStatus.Measured, null, description);

    public void Unavailable(RouteSpec route, RouteUnavailableException reason)
    {
        ArgumentNullException.ThrowIfNull(reason);
        Set(route, reason.MissingTool ? RouteStatus.Skipped : RouteStatus.Failed, reason.Message, null);
    }

    /// <summary>Writes down that <paramref name="route"/> could not finish <paramref name="scenario"/>, and why.</summary>
    public void ScenarioFailed(RouteSpec route, string scenario, string detail)
    {
        lock (_lock)
        {
            if (!_failures.TryGetValue(route, out var list))
            {
                _failures[route] = list = [];
            }

            list.Add($"{scenario}: {detail}");
        }
    }

    /// <summary>Every route asked for, in table order.</summary>
    public IReadOnlyList<RouteStatus> Statuses()
    {
        lock (_lock)
        {
            return RouteSpec.All
                .Where(_states.ContainsKey)
                .Select(route =>
                {
                    var (state, reason, description) = _states[route];
                    return new RouteStatus(route.Key, route.Label, route.Path, state, reason, description, _failures.TryGetValue(route, out var list) ? [.. list] : []);
                })
                .ToList();
        }
    }

    private void Set(RouteSpec route, string state, string? reason, string? description)
    {
        lock (_lock)
        {
            _states[route] = (state, reason, description);
        }
    }
}
