using System.Globalization;
using System.Text;
using GitHubActionsPort.Broker.Auth;
using GitHubActionsPort.Broker.Configuration;
using GitHubActionsPort.Broker.Policy;

namespace GitHubActionsPort.Broker.Hosting;

/// <summary>
/// The report of <c>policy explain</c>: the token's identity, each rule check by check (the same
/// <see cref="RuleEvaluation"/> a session gets), then the decision the broker would make. Claim values come from
/// a token that may be hostile, so control and formatting characters are escaped before they reach a terminal.
/// </summary>
internal sealed class PolicyExplanation(BrokerSettings settings, CallerIdentity caller, bool verified)
{
    private const int MaxValueLength = 200;

    /// <summary>Writes the report; returns the decision for <paramref name="targets"/>, or for every target a matching rule opens.</summary>
    public AccessDecision Write(TextWriter output, IReadOnlyList<string>? targets)
    {
        ArgumentNullException.ThrowIfNull(output);
        WriteToken(output);

        var evaluations = settings.Rules.Select(rule => RuleEvaluation.Of(rule, caller)).ToList();
        foreach (var evaluation in evaluations)
        {
            output.WriteLine();
            WriteRule(output, evaluation);
        }

        if (evaluations.Count == 0)
        {
            output.WriteLine();
            output.WriteLine("no rules are configured: every request is denied");
        }

        output.WriteLine();
        return WriteDecision(output, targets, evaluations);
    }

    private void WriteToken(TextWriter output)
    {
        var configured = settings.Issuers.Any(i => i.Issuer == caller.Issuer);
        output.WriteLine($"issuer    {Escape(caller.Issuer)}{(configured ? string.Empty : "  (not one of Broker:Issuers: no rule can match)")}");
        if (verified)
        {
            output.WriteLine("verified  signature, audience and lifetime checked against the issuer");
        }
        else
        {
            var expiry = caller.TokenExpiresAt == DateTimeOffset.MinValue ? "no exp" : caller.TokenExpiresAt.ToString("u", CultureInfo.InvariantCulture);
            output.WriteLine($"verified  NO (--no-verify): claims are judged as written; expires {expiry}");
        }

        output.WriteLine($"identity  {Escape(caller.Describe())}");
    }

    private void WriteRule(TextWriter output, RuleEvaluation evaluation)
    {
        var rule = evaluation.Rule;
        output.WriteLine($"rule {rule.Name} ({rule.Key}): {(evaluation.Matches ? "MATCHES" : "does not match")}");
        var width = Math.Max(12, rule.Claims.Keys.Concat(rule.NotClaims.Keys.Select(k => "not " + k)).Select(k => k.Length + 1).DefaultIfEmpty(0).Max());

        var issuers = rule.IssuerDefaulted ? $"any configured issuer ({rule.Issuers.Count})" : string.Join(" | ", rule.Issuers);
        Line(output, width, "issuer", evaluation.IssuerMatches ? "matched" : "NOT matched", $"{Escape(caller.Issuer)}  against {issuers}");

        foreach (var check in evaluation.Claims)
        {
            Line(output, width, check.Claim, check.Matched ? "matched" : "NOT matched", $"{Quote(check.Value)}  against {Patterns(check.Patterns)}");
        }

        foreach (var check in evaluation.NotClaims)
        {
            Line(output, width, "not " + check.Claim, check.Matched ? "EXCLUDED" : "not excluded", $"{Quote(check.Value)}  against {Patterns(check.Patterns)}");
        }

        var ev = evaluation.Event;
        var (verdict, why) = ev switch
        {
            { NotAString: true } => ("NOT admitted", "the token's event_name is not a string, so no rule admits it"),
            { EventName: null } => ("ok", "the token has no event_name"),
            { Guarded: false } => ("ok", $"{Quote(ev.EventName)} runs the repository's own code on a trigger that needs write access"),
            { Admitted: true } => ("ok", $"{Quote(ev.EventName)} is listed by name in the rule's event_name"),
            _ => ("NOT admitted", $"{Quote(ev.EventName)} is not one of the events a rule admits unasked ({string.Join(", ", EventSafety.TrustedEvents.Order(StringComparer.Ordinal))}); a rule admits it only when its event_name lists it by name"),
        };
        Line(output, width, "event", verdict, why);
        Line(output, width, "targets", string.Join(", ", rule.Targets), string.Empty);

        foreach (var risk in PolicyRisks.Of(rule))
        {
            Line(output, width, "warning", "rule " + risk.Description, string.Empty);
        }
    }

    private AccessDecision WriteDecision(TextWriter output, IReadOnlyList<string>? requested, List<RuleEvaluation> evaluations)
    {
        var targets = requested ?? evaluations.Where(e => e.Matches).SelectMany(e => e.Rule.Targets).Distinct(StringComparer.Ordinal).ToList();
        if (targets.Count == 0)
        {
            output.WriteLine("decision  DENIED: no rule matches this token, so no target is open to it");
            return AccessDecision.Deny("no rule matches");
        }

        var policy = new AccessPolicy(new PolicyStore(settings));
        var decision = policy.Decide(caller, targets, null);
        output.WriteLine($"decision for {string.Join(", ", targets)}: {(decision.Allowed ? "GRANTED by " + string.Join(", ", decision.Rules) : "DENIED")}");
        if (!decision.Allowed)
        {
            output.WriteLine($"  reason the job sees: {Escape(decision.Reason ?? string.Empty)}");
            foreach (var unknown in targets.Where(t => !settings.Targets.ContainsKey(t)))
            {
                output.WriteLine($"  note: '{unknown}' is not defined under Broker:Targets (the job is told the same as for a forbidden one)");
            }

            return decision;
        }

        var longest = policy.Decide(caller, targets, TimeSpan.MaxValue).Ttl;
        output.WriteLine($"  ttl              {decision.Ttl:c} when the agent asks for none (--ttl asks for up to {longest:c})");
        output.WriteLine($"  max connections  {decision.MaxConnections}");
        return decision;
    }

    private static void Line(TextWriter output, int width, string name, string verdict, string detail) =>
        output.WriteLine($"  {name.PadRight(width)} {verdict.PadRight(13)} {detail}".TrimEnd());

    private static string Patterns(IReadOnlyList<ClaimPattern> patterns) => string.Join(" | ", patterns.Select(p => p.Text));

    private static string Quote(string? value) => value is null ? "(missing, or not a string)" : "\"" + Escape(value) + "\"";

    /// <summary>Keeps a hostile value from moving the cursor, recolouring the terminal or reordering text.</summary>
    internal static string Escape(string value)
    {
        var text = new StringBuilder();
        foreach (var c in value.Length > MaxValueLength ? value[..MaxValueLength] : value)
        {
            var category = CharUnicodeInfo.GetUnicodeCategory(c);
            if (char.IsControl(c) || category is UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator or UnicodeCategory.Surrogate)
            {
                text.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
            else
            {
                text.Append(c);
            }
        }

        return value.Length > MaxValueLength ? text.Append("...").ToString() : text.ToString();
    }
}
