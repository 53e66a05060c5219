using GitHubActionsPort.Harness.Bench.Routes;

namespace GitHubActionsPort.Harness.Bench;

/// <summary>One scenario measured over every route that could run it, in the same run.</summary>
/// <param name="Key">Stable name for comparing runs (the JSON's key), e.g. <c>one-stream-upload</c>.</param>
/// <param name="Scenario">What was measured, with its size, for people.</param>
/// <param name="Unit">Unit of the values.</param>
/// <param name="HigherIsBetter">True for rates, false for times, CPU and memory.</param>
/// <param name="Values">The value per route key; a route that was not measured is absent.</param>
internal sealed record BenchResult(string Key, string Scenario, string Unit, bool HigherIsBetter, IReadOnlyDictionary<string, double> Values)
{
    /// <summary>Each route's value divided by direct's: below 1 for rates, above 1 for times, whichever way a hop costs.</summary>
    public IReadOnlyDictionary<string, double> VersusDirect => RatiosTo(RouteSpec.Direct);

    /// <summary>Each route's value divided by the socat chain's, the peer baseline.</summary>
    public IReadOnlyDictionary<string, double> VersusSocat => RatiosTo(RouteSpec.Socat);

    public double? Value(RouteSpec route)
    {
        ArgumentNullException.ThrowIfNull(route);
        return Values.TryGetValue(route.Key, out var value) ? value : null;
    }

    /// <summary><paramref name="route"/>'s value over <paramref name="baseline"/>'s; null unless both were measured.</summary>
    public double? Ratio(RouteSpec route, RouteSpec baseline) =>
        Value(route) is { } value && Value(baseline) is { } reference && reference != 0 ? value / reference : null;

    // Direct is never compared with anything: everything is compared with it.
    private Dictionary<string, double> RatiosTo(RouteSpec baseline) =>
        RouteSpec.All
            .Where(route => route != baseline && route != RouteSpec.Direct && Ratio(route, baseline) is not null)
            .ToDictionary(route => route.Key, route => Ratio(route, baseline)!.Value, StringComparer.Ordinal);
}
