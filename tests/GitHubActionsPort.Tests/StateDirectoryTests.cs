using System.Diagnostics;
using System.Runtime.Versioning;
using GitHubActionsPort.Agent.Background;
using GitHubActionsPort.Agent.Cli;

namespace GitHubActionsPort.Tests;

/// <summary>
/// The background agent's state folder on a real file system: made owner-only, and a folder that is already
/// there is refused when another user could have made it or can change it (the default, ghaport-USER in the shared
/// temp folder, is a name anyone can predict).
/// </summary>
[Platform("Linux")]
[SupportedOSPlatform("linux")]
public sealed class StateDirectoryTests
{
    private DirectoryInfo _parent = null!;

    [SetUp]
    public void MakeParent() => _parent = Directory.CreateTempSubdirectory("ghaport-state-test-");

    [TearDown]
    public void RemoveParent() => _parent.Delete(recursive: true);

    [Test]
    public void NewFolder_IsMadeOwnerOnly()
    {
        var path = Path.Combine(_parent.FullName, "state");

        var state = StateDirectory.Resolve(path, _ => null, create: true);

        Assert.That(state.Path, Is.EqualTo(path));
        Assert.That(File.GetUnixFileMode(path), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute));
    }

    [Test]
    public void DefaultOutsideActions_IsGhaportUserInTheTempFolder()
    {
        var state = StateDirectory.Resolve(null, _ => null, create: false);

        Assert.That(state.Path, Is.EqualTo(Path.Combine(Path.GetTempPath(), $"ghaport-{Environment.UserName}")));
    }

    [TestCase(UnixFileMode.GroupWrite)]
    [TestCase(UnixFileMode.OtherWrite)]
    public void ExistingFolderWritableByOthers_IsRefused(UnixFileMode extra)
    {
        var path = Path.Combine(_parent.FullName, "state");
        Directory.CreateDirectory(path);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | extra);

        var error = Assert.Throws<AgentException>(() => StateDirectory.Resolve(path, _ => null, create: true));

        Assert.That(error!.Message, Does.Contain(path).And.Contain("writable by other users").And.Contain("--state-dir"));
        Assert.That(error.ExitCode, Is.EqualTo(ExitCodes.Failure));
        Assert.That(File.GetUnixFileMode(path) & extra, Is.EqualTo(extra), "refused, not quietly repaired: someone may have used it already");
    }

    [Test]
    public void ExistingSymbolicLink_IsRefused_EvenToAFolderOfOurOwn()
    {
        var target = Directory.CreateDirectory(Path.Combine(_parent.FullName, "elsewhere"));
        File.SetUnixFileMode(target.FullName, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var path = Path.Combine(_parent.FullName, "state");
        Directory.CreateSymbolicLink(path, target.FullName);

        var error = Assert.Throws<AgentException>(() => StateDirectory.Resolve(path, _ => null, create: true));

        Assert.That(error!.Message, Does.Contain("symbolic link"));
        Assert.Throws<AgentException>(() => StateDirectory.Resolve(path, _ => null, create: false), "status and down refuse it too");
    }

    [Test]
    public void ExistingFolderOfAnotherUser_IsRefused()
    {
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root")
        {
            Assert.Ignore("needs root, to give a folder to another user (nobody)");
        }

        var path = Path.Combine(_parent.FullName, "state");
        Directory.CreateDirectory(path);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        using (var chown = Process.Start("chown", ["65534", path]))
        {
            Assert.That(chown.WaitForExit(TaskTimeouts.Default), Is.True);
            Assert.That(chown.ExitCode, Is.Zero);
        }

        var error = Assert.Throws<AgentException>(() => StateDirectory.Resolve(path, _ => null, create: true));

        Assert.That(error!.Message, Does.Contain("belongs to uid 65534").And.Contain("uid 0"));
    }
}
