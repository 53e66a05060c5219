using System.Collections.Frozen;
using GitHubActionsPort.Broker.Auth;
using GitHubActionsPort.Broker.Configuration;

namespace GitHubActionsPort.Broker.Policy;

/// <summary>
/// An allow-list of GitHub Actions events: only the events below, which run code from the repository's own refs on
/// a trigger that needs write access to it (or none at all), satisfy a rule that does not list the event. Every
/// other event — a fork's <c>pull_request</c>, <c>pull_request_target</c> (fork-triggered, yet its ref is the base
/// branch), <c>workflow_run</c>, <c>issues</c>, <c>issue_comment</c>, the review events, and any event GitHub adds
/// later — satisfies a rule only when the rule's <c>event_name</c> claim lists it by name: a wildcard such as
/// <c>*</c> or <c>pull_*</c> does not count, and neither does a rule that says nothing about events. So
/// <c>ref: refs/heads/main</c> alone never admits a <c>pull_request_target</c> run, whose ref is main.
/// </summary>
/// <remarks>
/// GitHub's event names are lowercase, and compared ordinally: <c>Push</c> is not <c>push</c> but an unknown event,
/// which a rule must list by name. An <c>event_name</c> that is not a JSON string (a list, a number) matches no
/// rule at all, listed or not: it is no event GitHub sends, and read as missing it would pass every rule.
/// </remarks>
internal static class EventSafety
{
    public const string EventClaim = "event_name";

    /// <summary>Events a rule admits without naming them. Each must run trusted code on a trusted trigger.</summary>
    public static readonly FrozenSet<string> TrustedEvents = new[]
    {
        // A commit pushed to a branch or tag of the repository itself: pushing needs write access, and the code is
        // what was pushed to that ref, which the rule binds with 'ref'. A fork's pushes run in the fork.
        "push",

        // A run started by hand (UI, API or CLI): needs write access, and runs the workflow of a branch or tag of
        // the repository.
        "workflow_dispatch",

        // Started by GitHub's clock, nobody's action, on the default branch's latest commit.
        "schedule",

        // Publishing or editing a release needs write access; the run is of the release's tag in the repository.
        "release",

        // A merge queue's trial merge: only someone with write access queues a pull request, after the branch's
        // required reviews, and the run's ref is the queue's own (refs/heads/gh-readonly-queue/...), so a rule
        // bound to refs/heads/main never matches it anyway.
        "merge_group",

        // Sent through the API by a token with write access to the repository; runs the default branch.
        "repository_dispatch",

        // A branch or tag created, or deleted: as trusted as a push, since it is one (write access, the
        // repository's own refs); 'delete' runs the default branch.
        "create",
        "delete",

        // Not here, on purpose: pull_request, pull_request_target, pull_request_review, pull_request_review_comment
        // (a fork's pull request triggers them), workflow_run (runs the default branch, yet exists to process what a
        // possibly forked run produced), issues, issue_comment, discussion, discussion_comment, fork, watch, gollum
        // (anyone who can open an issue, comment, star or edit the wiki triggers them), check_run, check_suite,
        // status (any app or CI reporting on any commit, a fork's included), deployment, deployment_status (a
        // deployment may name any commit, and apps with only deployment rights create them), registry_package,
        // label, milestone, page_build, public, branch_protection_rule, workflow_call (a called workflow carries
        // its caller's event) and every event GitHub adds later.
    }.ToFrozenSet(StringComparer.Ordinal);

    public static EventCheck Check(RuleSettings rule, CallerIdentity caller)
    {
        ArgumentNullException.ThrowIfNull(rule);
        ArgumentNullException.ThrowIfNull(caller);
        if (caller.NonStringClaims.Contains(EventClaim))
        {
            return new EventCheck(null, Guarded: true, Admitted: false, NotAString: true);
        }

        if (!caller.Claims.TryGetValue(EventClaim, out var eventName))
        {
            // Tokens of issuers other than GitHub Actions (a forge, the dev issuer) carry no event at all.
            return new EventCheck(null, Guarded: false, Admitted: true);
        }

        if (TrustedEvents.Contains(eventName))
        {
            return new EventCheck(eventName, Guarded: false, Admitted: true);
        }

        var listed = rule.Claims.TryGetValue(EventClaim, out var patterns) && patterns.Any(p => p.IsLiterally(eventName));
        return new EventCheck(eventName, Guarded: true, Admitted: listed);
    }
}
