using System.Collections.Frozen;
using GitHubActionsPort.Broker.Auth;
using GitHubActionsPort.Broker.Configuration;

namespace GitHubActionsPort.Broker.Policy;

/// <summary>
/// Safe by default for the events that run code a rule's author may not have pictured: <c>pull_request</c> (a
/// fork's code), <c>pull_request_target</c> (runs with the base branch's ref and secrets, yet is triggered by a
/// fork's pull request), <c>workflow_run</c> (runs after another workflow, which may have run a fork's code) and
/// <c>issue_comment</c> (anyone who can comment triggers a run on the default branch). A token of one of them
/// satisfies a rule only when the rule's <c>event_name</c> claim lists that event by name: a wildcard such as
/// <c>*</c> or <c>pull_*</c> does not count, and neither does a rule that says nothing about events. So
/// <c>ref: refs/heads/main</c> alone never admits a <c>pull_request_target</c> run, whose ref is main.
/// </summary>
internal static class EventSafety
{
    public const string EventClaim = "event_name";

    public static readonly FrozenSet<string> GuardedEvents =
        new[] { "pull_request", "pull_request_target", "workflow_run", "issue_comment" }.ToFrozenSet(StringComparer.Ordinal);

    public static EventCheck Check(RuleSettings rule, CallerIdentity caller)
    {
        ArgumentNullException.ThrowIfNull(rule);
        ArgumentNullException.ThrowIfNull(caller);
        if (!caller.Claims.TryGetValue(EventClaim, out var eventName))
        {
            return new EventCheck(null, Guarded: false, Admitted: true);
        }

        if (!GuardedEvents.Contains(eventName))
        {
            return new EventCheck(eventName, Guarded: false, Admitted: true);
        }

        var listed = rule.Claims.TryGetValue(EventClaim, out var patterns) && patterns.Any(p => p.IsLiterally(eventName));
        return new EventCheck(eventName, Guarded: true, Admitted: listed);
    }
}
