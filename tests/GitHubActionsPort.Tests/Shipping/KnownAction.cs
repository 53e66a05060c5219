namespace GitHubActionsPort.Tests.Shipping;

/// <summary>
/// An action the repository's workflows may use: the first major whose <c>action.yml</c> runs on Node 24 (a
/// <c>@vN</c> ref must be that major or later) and the release commits known by their tag (a full-SHA ref must be
/// one of them, with the tag in the line's comment).
/// </summary>
internal sealed record KnownAction(string Repository, int FirstNode24Major, IReadOnlyDictionary<string, string> ReleaseCommits);
