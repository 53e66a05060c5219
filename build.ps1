#Requires -Version 7
<#
.SYNOPSIS
    Build, test, demo, benchmark and publish GitHub Actions Port.

.DESCRIPTION
    Run with the PowerShell pinned as a local dotnet tool:

        dotnet tool restore
        dotnet pwsh ./build.ps1 [build|test|demo|bench|publish] [extra arguments...]

    build    dotnet build of the solution (Release).
    test     build, then dotnet test with TRX results in artifacts/test-results. dotnet test's
             own output goes to artifacts/test-results/test-output.log (its path is printed);
             the console shows each failed test (name, message, the top of its stack) and, as
             the last line, "<n> passed, <n> failed, <n> skipped". Fails when dotnet test
             fails, when any test fails, or when no test ran. Extra arguments go to
             dotnet test (e.g. --filter "FullyQualifiedName~Splice"). The action's
             scripts are tested under Node 24: GHAPORT_TEST_NODE, else
             artifacts/tools/node24, else node on PATH if it is Node 24, else npm installs
             the pinned node-<os>-<arch> package into artifacts/tools/node24 first.
    demo     dotnet run of the harness "demo" command; extra arguments are passed through.
    bench    dotnet run of the harness "bench" command (Release); extra arguments are passed
             through, e.g. --quick, --routes direct,socat,grpc-h2c,raw-plain,
             --scenarios throughput,rtt,connect,idle,pgbench,stores, --json PATH. Every route is measured
             beside direct loopback and the socat chain in the same run; the table of ratios and
             the goal checks come last, and the JSON goes to bench/results/<UTC timestamp>.json.
             The same without PowerShell:
                 dotnet run --project tests/GitHubActionsPort.Harness -c Release -- bench [options]
             For 10,000 idle tunnels the harness raises its open-file limit to 262144 with
             prlimit (root with CAP_SYS_RESOURCE); elsewhere it measures what fits and says so.
    publish  the release assets into artifacts/release/, named as on the GitHub release:
             ghaport-linux-x64, ghaport-linux-arm64, ghaport-osx-arm64, ghaport-win-x64.exe
             (Native AOT for this host's own RID, a trimmed self-contained single file for
             the others: Native AOT cannot cross OS or architecture), ghaport-broker-linux-x64,
             ghaport-broker-linux-arm64, ghaport-broker-win-x64.exe (self-contained single
             files, native libraries inside), ghaport.<version>.nupkg (the .NET tool) and
             SHA256SUMS (sha256sum format, sorted by name) over the files made; then a table
             of asset, kind (aot / single-file / dotnet tool) and size, and what it did not
             make and why. No .NET is needed to run any binary. Options:
                 --rid RID[,RID...]  only these RIDs' ghaport and ghaport-broker (no tool
                                     package): a release runner builds its own RID with AOT
                 --version X.Y.Z     the version to stamp (default: Directory.Build.props)
                 --release-dir DIR   another folder than artifacts/release
                 --checksums-only    build nothing; (re)write SHA256SUMS over the files
                                     already in the folder (assets gathered from runners)
             Trim and AOT warnings are errors (TreatWarningsAsErrors reaches ILLink and ILC).

    Extra arguments are collected by PowerShell, so a bare "--" and short switches that
    match a common parameter (-v, -d, -e, ...) are not passed through; use long forms.
#>
param(
    [ValidateSet('build', 'test', 'demo', 'bench', 'publish')]
    [string] $Target = 'build',

    [Parameter(ValueFromRemainingArguments)]
    $Rest
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
# Exit codes of native commands are checked explicitly below, with a message naming the command.
$PSNativeCommandUseErrorActionPreference = $false
if ([Console]::IsOutputRedirected -or $env:NO_COLOR) {
    $PSStyle.OutputRendering = 'PlainText'
}

Set-Location -LiteralPath $PSScriptRoot

$env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'
$env:DOTNET_NOLOGO = '1'

$Solution = 'GitHubActionsPort.sln'
$Configuration = 'Release'
$AgentProject = 'agent/GitHubActionsPort.Agent.csproj'
$BrokerProject = 'broker/GitHubActionsPort.Broker.csproj'
$HarnessProject = 'tests/GitHubActionsPort.Harness'
$ArtifactsDir = Join-Path $PSScriptRoot 'artifacts'
$TestResultsDir = Join-Path $ArtifactsDir 'test-results'
$TestLog = Join-Path $TestResultsDir 'test-output.log'

# Pass-through arguments as plain strings (no $null when none were given). Typed inside a PowerShell session,
# "--routes direct,socat" arrives as an array; it goes on as the comma list it was.
$RestArgs = [string[]] @($Rest | Where-Object { $null -ne $_ } | ForEach-Object { if ($_ -is [System.Collections.IList]) { $_ -join ',' } else { [string] $_ } })

# Exit code of the last command run through Invoke-Native.
$script:NativeExitCode = 0

function Write-Step {
    param([Parameter(Mandatory)] [string] $Text)
    Write-Host ''
    Write-Host "==> $Text" -ForegroundColor Cyan
}

function Write-Problem {
    param([Parameter(Mandatory)] [string] $Text)
    [Console]::Out.Flush()
    [Console]::Error.WriteLine("build.ps1: $Text")
    [Console]::Error.Flush()
}

function Format-CommandLine {
    param([string] $FilePath, [string[]] $ArgumentList)
    $parts = foreach ($a in @($FilePath) + @($ArgumentList)) {
        if ($a -match '[\s";&|<>()]' -or $a -eq '') { '"' + ($a -replace '"', '\"') + '"' } else { $a }
    }
    $parts -join ' '
}

function Invoke-Native {
    <#
    Runs a native command with its output going straight to the console (not captured),
    records its exit code in $script:NativeExitCode and, unless -AllowFailure, throws a
    clear error when it is not zero.
    #>
    param(
        [Parameter(Mandatory)] [string] $FilePath,
        [string[]] $ArgumentList = @(),
        [switch] $AllowFailure
    )
    $commandLine = Format-CommandLine $FilePath $ArgumentList
    Write-Host "> $commandLine" -ForegroundColor DarkGray
    $global:LASTEXITCODE = 0
    try {
        & $FilePath @ArgumentList
    }
    catch [System.Management.Automation.CommandNotFoundException] {
        throw "'$FilePath' was not found on PATH (needed for: $commandLine)."
    }
    $script:NativeExitCode = $global:LASTEXITCODE
    if ($script:NativeExitCode -ne 0 -and -not $AllowFailure) {
        throw "Command failed with exit code $($script:NativeExitCode): $commandLine"
    }
}

function Invoke-NativeToLog {
    <#
    Runs a native command with everything it prints (standard output and error) going to $LogFile instead of the
    console, and records its exit code in $script:NativeExitCode. Never throws for a non-zero exit code.
    #>
    param(
        [Parameter(Mandatory)] [string] $FilePath,
        [string[]] $ArgumentList = @(),
        [Parameter(Mandatory)] [string] $LogFile
    )
    $commandLine = Format-CommandLine $FilePath $ArgumentList
    Write-Host "> $commandLine" -ForegroundColor DarkGray
    Write-Host "  its full output: $LogFile" -ForegroundColor DarkGray
    $global:LASTEXITCODE = 0
    try {
        & $FilePath @ArgumentList *> $LogFile
    }
    catch [System.Management.Automation.CommandNotFoundException] {
        throw "'$FilePath' was not found on PATH (needed for: $commandLine)."
    }
    $script:NativeExitCode = $global:LASTEXITCODE
}

function Get-IntAttribute {
    param([System.Xml.XmlElement] $Element, [string] $Name)
    if ($null -eq $Element) { return 0 }
    $value = $Element.GetAttribute($Name)
    $n = 0
    if ([int]::TryParse($value, [ref] $n)) { return $n }
    return 0
}

function Get-TrxSummary {
    <#
    Sums the results of every *.trx file under $Directory. Per file, each of passed /
    failed / skipped is the larger of what ResultSummary/Counters says and what the
    UnitTestResult outcomes say, so a file is never counted twice and a file with a
    missing or partial Counters element still counts its results.
      failed  = Failed, Error, Timeout, Aborted
      skipped = NotExecuted, Inconclusive, NotRunnable
    Returns passed, failed, skipped, Files (count) and Errors (unreadable files).
    #>
    param([Parameter(Mandatory)] [string] $Directory)

    $summary = [ordered]@{ Passed = 0; Failed = 0; Skipped = 0; Files = 0; Errors = [System.Collections.Generic.List[string]]::new() }
    if (-not (Test-Path -LiteralPath $Directory -PathType Container)) { return [pscustomobject] $summary }

    $files = @(Get-ChildItem -LiteralPath $Directory -Filter '*.trx' -Recurse -File | Sort-Object FullName)
    foreach ($file in $files) {
        $summary.Files++
        try {
            $doc = [System.Xml.XmlDocument]::new()
            $doc.XmlResolver = $null
            $doc.Load($file.FullName)
        }
        catch {
            $summary.Errors.Add("could not read $($file.FullName): $($_.Exception.Message)")
            continue
        }

        $counters = $doc.SelectSingleNode("/*[local-name()='TestRun']/*[local-name()='ResultSummary']/*[local-name()='Counters']")
        $cPassed = (Get-IntAttribute $counters 'passed') + (Get-IntAttribute $counters 'passedButRunAborted')
        $cFailed = (Get-IntAttribute $counters 'failed') + (Get-IntAttribute $counters 'error') +
            (Get-IntAttribute $counters 'timeout') + (Get-IntAttribute $counters 'aborted')
        $cSkipped = (Get-IntAttribute $counters 'notExecuted') + (Get-IntAttribute $counters 'inconclusive') +
            (Get-IntAttribute $counters 'notRunnable')

        $rPassed = 0; $rFailed = 0; $rSkipped = 0
        $results = $doc.SelectNodes("/*[local-name()='TestRun']/*[local-name()='Results']/*[local-name()='UnitTestResult']")
        foreach ($result in $results) {
            switch ($result.GetAttribute('outcome')) {
                { $_ -in 'Passed', 'PassedButRunAborted' } { $rPassed++ }
                { $_ -in 'Failed', 'Error', 'Timeout', 'Aborted' } { $rFailed++ }
                { $_ -in 'NotExecuted', 'Inconclusive', 'NotRunnable' } { $rSkipped++ }
            }
        }

        $summary.Passed += [Math]::Max($cPassed, $rPassed)
        $summary.Failed += [Math]::Max($cFailed, $rFailed)
        $summary.Skipped += [Math]::Max($cSkipped, $rSkipped)
    }
    return [pscustomobject] $summary
}

function Write-TrxFailures {
    <#
    Prints every failed result of the *.trx files under $Directory: the test's name, its message (at most
    $MessageLines lines) and the top $StackLines lines of its stack trace. Returns how many it printed.
    #>
    param(
        [Parameter(Mandatory)] [string] $Directory,
        [int] $MessageLines = 40,
        [int] $StackLines = 8
    )
    $printed = 0
    if (-not (Test-Path -LiteralPath $Directory -PathType Container)) { return $printed }
    foreach ($file in @(Get-ChildItem -LiteralPath $Directory -Filter '*.trx' -Recurse -File | Sort-Object FullName)) {
        $doc = [System.Xml.XmlDocument]::new()
        $doc.XmlResolver = $null
        try { $doc.Load($file.FullName) } catch { continue }
        # The class of each test, by id: a result names only its method.
        $classes = @{}
        foreach ($test in $doc.SelectNodes("/*[local-name()='TestRun']/*[local-name()='TestDefinitions']/*[local-name()='UnitTest']")) {
            $method = $test.SelectSingleNode("*[local-name()='TestMethod']")
            if ($null -ne $method) { $classes[$test.GetAttribute('id')] = $method.GetAttribute('className') }
        }
        $results = $doc.SelectNodes("/*[local-name()='TestRun']/*[local-name()='Results']/*[local-name()='UnitTestResult']")
        foreach ($result in $results) {
            if ($result.GetAttribute('outcome') -notin 'Failed', 'Error', 'Timeout', 'Aborted') { continue }
            $printed++
            $errorInfo = $result.SelectSingleNode("*[local-name()='Output']/*[local-name()='ErrorInfo']")
            $name = $result.GetAttribute('testName')
            $class = $classes[$result.GetAttribute('testId')]
            if ($class) { $name = "$class.$name" }
            Write-Host ''
            Write-Host "FAILED $name ($($result.GetAttribute('outcome')), $($result.GetAttribute('duration')))" -ForegroundColor Red
            foreach ($part in @(@('Message', $MessageLines), @('StackTrace', $StackLines))) {
                $node = if ($null -ne $errorInfo) { $errorInfo.SelectSingleNode("*[local-name()='$($part[0])']") } else { $null }
                if ($null -eq $node -or [string]::IsNullOrWhiteSpace($node.InnerText)) { continue }
                $lines = @($node.InnerText.TrimEnd() -split "\r?\n")
                foreach ($line in @($lines | Select-Object -First $part[1])) { Write-Host "    $line" }
                if ($lines.Count -gt $part[1]) {
                    Write-Host "    ... ($($lines.Count - $part[1]) more lines of $($part[0].ToLowerInvariant()) in $($file.FullName))" -ForegroundColor DarkGray
                }
            }
        }
    }
    return $printed
}

function Format-Size {
    param([long] $Bytes)
    if ($Bytes -ge 1MB) { return '{0:N1} MB' -f ($Bytes / 1MB) }
    return '{0:N1} KB' -f ($Bytes / 1KB)
}

function Format-TestSummary {
    param([Parameter(Mandatory)] $Summary)
    "$($Summary.Passed) passed, $($Summary.Failed) failed, $($Summary.Skipped) skipped"
}

# The action's scripts are tested under the Node that `runs.using: node24` gets on a runner. Provisioned when missing
# from the npm registry's node-<os>-<arch> package (a plain Node binary), pinned, into artifacts/tools/node24.
$TestNodeMajor = 24
$TestNodeVersion = '24.22.3'
$TestNodeDir = Join-Path $ArtifactsDir 'tools' 'node24'
$TestNodeTimeoutSeconds = 300

function Get-NodeMajor {
    # The major version of the node binary at $Path, or 0 when it does not run or answer.
    param([Parameter(Mandatory)] [string] $Path)
    try {
        $version = (& $Path --version 2>$null | Select-Object -First 1)
    }
    catch {
        return 0
    }
    if ($version -match '^v(\d+)\.') { return [int] $Matches[1] }
    return 0
}

function Initialize-TestNode {
    <#
    Finds Node $TestNodeMajor for the action's tests (ActionScriptTests, ActionEndToEndTests) and passes its path to
    them as GHAPORT_TEST_NODE: the one GHAPORT_TEST_NODE already names, else artifacts/tools/node24, else node on PATH
    when it is Node $TestNodeMajor, else it provisions artifacts/tools/node24 with npm (bounded). Never stops the run:
    without Node $TestNodeMajor those tests say why, and fail under CI (CI=true).
    #>
    if ($env:GHAPORT_TEST_NODE) {
        Write-Host "Node for the action's tests: $($env:GHAPORT_TEST_NODE) (GHAPORT_TEST_NODE)"
        return
    }

    $os = if ($IsLinux) { 'linux' } elseif ($IsMacOS) { 'darwin' } else { $null }
    $arch = [System.Runtime.InteropServices.RuntimeInformation]::OSArchitecture.ToString().ToLowerInvariant()
    $package = "node-$os-$arch"
    $provisioned = Join-Path $TestNodeDir 'node_modules' $package 'bin' 'node'
    if ($null -ne $os -and (Test-Path -LiteralPath $provisioned -PathType Leaf) -and (Get-NodeMajor $provisioned) -eq $TestNodeMajor) {
        $env:GHAPORT_TEST_NODE = $provisioned
        Write-Host "Node for the action's tests: $provisioned"
        return
    }
    $onPath = Get-Command node -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    if ($null -ne $onPath -and (Get-NodeMajor $onPath.Source) -eq $TestNodeMajor) {
        $env:GHAPORT_TEST_NODE = $onPath.Source
        Write-Host "Node for the action's tests: $($onPath.Source) (PATH)"
        return
    }

    $missing = "Node $TestNodeMajor for the action's tests is not available"
    if ($null -eq $os) {
        Write-Host "${missing}: provisioning is done on Linux and macOS only; set GHAPORT_TEST_NODE to a Node $TestNodeMajor binary." -ForegroundColor Yellow
        return
    }
    $npm = Get-Command npm -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    if ($null -eq $npm) {
        Write-Host "${missing} and npm is not on PATH to provision it; install npm, or set GHAPORT_TEST_NODE to a Node $TestNodeMajor binary." -ForegroundColor Yellow
        return
    }

    Write-Step "Provision Node $TestNodeVersion for the action's tests ($package from npm) -> $TestNodeDir"
    $null = New-Item -ItemType Directory -Path $TestNodeDir -Force
    $log = Join-Path $TestNodeDir 'npm-install.log'
    $npmArgs = @('install', '--prefix', $TestNodeDir, '--no-save', '--no-audit', '--no-fund', '--ignore-scripts',
        '--fetch-timeout=60000', '--fetch-retries=1', "$package@$TestNodeVersion")
    Write-Host "> $(Format-CommandLine $npm.Source $npmArgs)" -ForegroundColor DarkGray
    $process = Start-Process -FilePath $npm.Source -ArgumentList $npmArgs -NoNewWindow -PassThru `
        -RedirectStandardOutput $log -RedirectStandardError "$log.err"
    if (-not $process.WaitForExit($TestNodeTimeoutSeconds * 1000)) {
        $process.Kill($true)
        Write-Host "${missing}: npm install did not finish within $TestNodeTimeoutSeconds s (its output: $log)." -ForegroundColor Yellow
        return
    }
    if ($process.ExitCode -ne 0 -or -not (Test-Path -LiteralPath $provisioned -PathType Leaf) -or (Get-NodeMajor $provisioned) -ne $TestNodeMajor) {
        Write-Host "${missing}: npm install of $package@$TestNodeVersion exited with code $($process.ExitCode) and left no working $provisioned (its output: $log, $log.err)." -ForegroundColor Yellow
        return
    }
    $env:GHAPORT_TEST_NODE = $provisioned
    Write-Host "Node for the action's tests: $provisioned"
}

function Invoke-Build {
    Write-Step "Build $Solution ($Configuration)"
    Invoke-Native dotnet @('build', $Solution, '-c', $Configuration)
}

function Invoke-Test {
    # The summary line must be the last line of output whatever happens, so problems are
    # reported first and the process exits after printing it.
    $problems = [System.Collections.Generic.List[string]]::new()

    Write-Step "Clean $TestResultsDir"
    if (Test-Path -LiteralPath $TestResultsDir) {
        Remove-Item -LiteralPath $TestResultsDir -Recurse -Force
    }
    $null = New-Item -ItemType Directory -Path $TestResultsDir -Force

    $built = $true
    try {
        Invoke-Build
    }
    catch {
        $built = $false
        $problems.Add("build failed, no test was run: $($_.Exception.Message)")
    }

    if ($built) {
        Initialize-TestNode
        Write-Step "Test $Solution ($Configuration)"
        $testArgs = @(
            'test', $Solution,
            '-c', $Configuration,
            '--no-build',
            '--results-directory', $TestResultsDir,
            '--logger', 'trx;LogFileName=tests.trx',
            '--logger', 'console;verbosity=normal'
        ) + $RestArgs
        Invoke-NativeToLog dotnet $testArgs -LogFile $TestLog
        if ($script:NativeExitCode -ne 0) {
            $problems.Add("dotnet test exited with code $($script:NativeExitCode); its full output is in $TestLog.")
        }
    }

    Write-Step "Test results ($TestResultsDir)"
    $failuresShown = Write-TrxFailures -Directory $TestResultsDir
    if ($built -and $script:NativeExitCode -ne 0 -and $failuresShown -eq 0 -and (Test-Path -LiteralPath $TestLog)) {
        # No failed result to show (a build or test-host failure, a crash): the end of the log says why.
        Write-Host "The last lines of $($TestLog):"
        Get-Content -LiteralPath $TestLog -Tail 40 | ForEach-Object { Write-Host "    $_" }
    }
    $summary = Get-TrxSummary -Directory $TestResultsDir
    foreach ($e in $summary.Errors) { $problems.Add($e) }
    if ($built) {
        if ($summary.Files -eq 0) {
            $problems.Add("no TRX file was produced under $TestResultsDir.")
        }
        if ($summary.Failed -gt 0) {
            $problems.Add("$($summary.Failed) test(s) failed.")
        }
        if ($summary.Passed + $summary.Failed -eq 0) {
            $problems.Add('no test ran.')
        }
    }

    foreach ($p in $problems) { Write-Problem $p }
    [Console]::Error.Flush()
    Write-Host (Format-TestSummary $summary)
    if ($problems.Count -gt 0) { exit 1 }
    exit 0
}

function Invoke-Harness {
    param([Parameter(Mandatory)] [string] $Command)
    Write-Step "Harness $Command ($Configuration)"
    Invoke-Native dotnet (@('run', '-c', $Configuration, '--project', $HarnessProject, '--', $Command) + $RestArgs) -AllowFailure
    if ($script:NativeExitCode -ne 0) {
        Write-Problem "harness '$Command' exited with code $($script:NativeExitCode)."
    }
    exit $script:NativeExitCode
}

function Get-HostRuntimeIdentifier {
    # The RID this machine's SDK builds for natively, as the release names its binaries.
    $os = if ($IsWindows) { 'win' } elseif ($IsMacOS) { 'osx' } else { 'linux' }
    "$os-$([System.Runtime.InteropServices.RuntimeInformation]::OSArchitecture.ToString().ToLowerInvariant())"
}

function Get-ReleaseAssetName {
    param([Parameter(Mandatory)] [string] $Program, [Parameter(Mandatory)] [string] $Rid)
    "$Program-$Rid$(if ($Rid.StartsWith('win-')) { '.exe' } else { '' })"
}

function Write-Sha256Sums {
    <#
    Writes $Directory/SHA256SUMS over the release assets present there (every file but SHA256SUMS itself and
    hidden files), in sha256sum's format: 64 lowercase hex digits, two spaces, the file name, "\n" line ends,
    sorted by name (ordinal), so `sha256sum -c SHA256SUMS` checks them. Returns the lines.
    #>
    param([Parameter(Mandatory)] [string] $Directory)
    $names = [string[]] @(Get-ChildItem -LiteralPath $Directory -File |
            Where-Object { $_.Name -ne 'SHA256SUMS' -and -not $_.Name.StartsWith('.') } | ForEach-Object Name)
    # Sort-Object has no ordinal mode: order the names ordinally, as sort(1) under LC_ALL=C does.
    [Array]::Sort($names, [StringComparer]::Ordinal)
    $lines = foreach ($name in $names) {
        $hash = (Get-FileHash -LiteralPath (Join-Path $Directory $name) -Algorithm SHA256).Hash.ToLowerInvariant()
        "$hash  $name"
    }
    $text = if ($lines) { ($lines -join "`n") + "`n" } else { '' }
    [System.IO.File]::WriteAllText((Join-Path $Directory 'SHA256SUMS'), $text, [System.Text.UTF8Encoding]::new($false))
    return $lines
}

function Invoke-Publish {
    <#
    The release assets (see the help above) into artifacts/release/. Options (from the extra arguments):
      --rid RID[,RID...]   only these RIDs' agent and broker (no tool package); default: every RID of the release.
      --version X.Y.Z      the version to stamp (default: Directory.Build.props).
      --release-dir DIR    another folder than artifacts/release (not --out: PowerShell takes that for -OutVariable).
      --checksums-only     build nothing: (re)write SHA256SUMS over the files already in the folder.
    #>
    $agentRids = @('linux-x64', 'linux-arm64', 'osx-arm64', 'win-x64')
    $brokerRids = @('linux-x64', 'linux-arm64', 'win-x64')
    $rids = $null
    $version = $null
    $releaseDir = Join-Path $ArtifactsDir 'release'
    $checksumsOnly = $false
    for ($i = 0; $i -lt $RestArgs.Count; $i++) {
        $arg = $RestArgs[$i]
        $needsValue = $arg -in '--rid', '--version', '--release-dir'
        if ($needsValue -and $i + 1 -ge $RestArgs.Count) { throw "publish: $arg needs a value." }
        switch ($arg) {
            '--rid' { $i++; $rids = @($RestArgs[$i] -split ',' | Where-Object { $_ }) }
            '--version' { $i++; $version = $RestArgs[$i] }
            '--release-dir' { $i++; $releaseDir = [System.IO.Path]::GetFullPath($RestArgs[$i], $PSScriptRoot) }
            '--checksums-only' { $checksumsOnly = $true }
            default { throw "publish: unknown argument '$arg' (known: --rid RID[,RID...], --version X.Y.Z, --release-dir DIR, --checksums-only)." }
        }
    }
    if ($null -ne $version -and $version -notmatch '^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$') {
        throw "publish: --version '$version' is not a version like 1.2.3 or 1.2.3-rc.1."
    }
    foreach ($rid in @($rids | Where-Object { $_ })) {
        if ($rid -notin $agentRids) { throw "publish: --rid '$rid' is not one the release ships (known: $($agentRids -join ', '))." }
    }

    if ($checksumsOnly) {
        if (-not (Test-Path -LiteralPath $releaseDir -PathType Container)) { throw "publish --checksums-only: no folder $releaseDir." }
        Write-Step "Checksums of the files in $releaseDir"
        $lines = @(Write-Sha256Sums -Directory $releaseDir)
        if ($lines.Count -eq 0) { throw "publish --checksums-only: $releaseDir holds no file to list." }
        $lines | ForEach-Object { Write-Host $_ }
        return
    }

    $buildAll = $null -eq $rids
    if ($buildAll) { $rids = $agentRids }
    $versionArgs = if ($version) { @("-p:Version=$version") } else { @() }
    $hostRid = Get-HostRuntimeIdentifier
    $workDir = Join-Path $ArtifactsDir 'publish'

    # A fresh folder: SHA256SUMS lists exactly what this run made.
    if (Test-Path -LiteralPath $releaseDir) { Remove-Item -LiteralPath $releaseDir -Recurse -Force }
    $null = New-Item -ItemType Directory -Path $releaseDir -Force
    $made = [System.Collections.Generic.List[object]]::new()
    $skipped = [System.Collections.Generic.List[string]]::new()

    foreach ($rid in $rids) {
        # Native AOT compiles for this host's own OS and architecture only (no cross toolchain here); every other
        # agent is a trimmed self-contained single file. Both need no .NET on the machine that runs them.
        $agentKind = if ($rid -eq $hostRid) { 'aot' } else { 'single-file' }
        $builds = @(@{ Program = 'ghaport'; Project = $AgentProject; Kind = $agentKind; Args = @("-p:AgentPublishKind=$agentKind") })
        if ($rid -in $brokerRids) {
            # The broker is not trimmed (ASP.NET Core, Npgsql and the SQLite provider are not all trim-safe); its
            # native libraries (e_sqlite3) go inside the file and are extracted on first start.
            $builds += @{ Program = 'ghaport-broker'; Project = $BrokerProject; Kind = 'single-file'; Args = @(
                    '--self-contained', '-p:PublishSingleFile=true', '-p:IncludeNativeLibrariesForSelfExtract=true', '-p:EnableCompressionInSingleFile=true') }
        }
        else {
            $skipped.Add("ghaport-broker for $rid (not a release asset: the broker ships for linux-x64, linux-arm64 and win-x64)")
        }
        foreach ($b in $builds) {
            $out = Join-Path $workDir "$($b.Program)-$rid"
            Write-Step "Publish $($b.Program) for $rid ($($b.Kind)) -> $out"
            if (Test-Path -LiteralPath $out) { Remove-Item -LiteralPath $out -Recurse -Force }
            Invoke-Native dotnet (@('publish', $b.Project, '-c', $Configuration, '-r', $rid, '--nologo', '-o', $out) + $b.Args + $versionArgs)
            $binaryName = $b.Program + $(if ($rid.StartsWith('win-')) { '.exe' } else { '' })
            $binary = Join-Path $out $binaryName
            if (-not (Test-Path -LiteralPath $binary -PathType Leaf)) { throw "publish of $($b.Program) for $rid made no $binary." }
            # One file is the promise: anything beside it but symbols and XML docs would be missing at run time. The
            # Web SDK also writes the broker an (empty) static web assets manifest it never reads (it serves no files)
            # and, for Windows, an IIS web.config (it runs as its own process or service, not in IIS). The broker's
            # deploy/ folder (systemd unit, service script) is for reading, not run time.
            $extra = @(Get-ChildItem -LiteralPath $out -File | Where-Object {
                    $_.Name -ne $binaryName -and $_.Extension -notin '.pdb', '.dbg', '.xml' -and
                    $_.Name -notlike '*.staticwebassets.endpoints.json' -and $_.Name -ne 'web.config' })
            if ($extra.Count -gt 0) { throw "publish of $($b.Program) for $rid is not one file: $(($extra.Name | Sort-Object) -join ', ') beside $binaryName." }
            $asset = Get-ReleaseAssetName -Program $b.Program -Rid $rid
            Copy-Item -LiteralPath $binary -Destination (Join-Path $releaseDir $asset)
            $made.Add([pscustomobject] @{ Asset = $asset; Kind = $b.Kind })
        }
        if ($agentKind -ne 'aot') {
            $skipped.Add("Native AOT for ghaport-$rid (this host is $hostRid; Native AOT compiles for its own OS and architecture only: ghaport-$rid is a trimmed single file, on a $rid machine, publish --rid $rid makes it with AOT)")
        }
    }

    if ($buildAll) {
        Write-Step "Pack $AgentProject -> $releaseDir"
        Invoke-Native dotnet (@('pack', $AgentProject, '-c', $Configuration, '--nologo', '-o', $releaseDir) + $versionArgs)
        foreach ($p in @(Get-ChildItem -LiteralPath $releaseDir -Filter '*.nupkg' -File)) {
            $made.Add([pscustomobject] @{ Asset = $p.Name; Kind = 'dotnet tool' })
        }

        # The broker's OCI image (artifacts/release/ghaport-broker-image.tar.gz) is built here, before the checksums,
        # so SHA256SUMS lists it too.
        if (Get-Command Invoke-PublishImage -ErrorAction Ignore) {
            Invoke-PublishImage
        }
    }

    Write-Step "Checksums -> $(Join-Path $releaseDir 'SHA256SUMS')"
    $null = Write-Sha256Sums -Directory $releaseDir

    Write-Step "Release assets in $releaseDir"
    '{0,-32} {1,-12} {2,10}' -f 'ASSET', 'KIND', 'SIZE' | Write-Host
    foreach ($file in @(Get-ChildItem -LiteralPath $releaseDir -File | Sort-Object Name)) {
        $entry = @($made | Where-Object Asset -eq $file.Name) | Select-Object -First 1
        $kind = if ($null -ne $entry) { $entry.Kind } elseif ($file.Name -eq 'SHA256SUMS') { 'checksums' } else { '' }
        '{0,-32} {1,-12} {2,10}' -f $file.Name, $kind, (Format-Size $file.Length) | Write-Host
    }
    foreach ($s in $skipped) { Write-Host "not made: $s" -ForegroundColor Yellow }
}

function Invoke-PublishImage {
    <#
    The broker's OCI image as a tarball, ghaport-broker-image.tar.gz in the release folder (artifacts/release, or
    the --release-dir and --version of Invoke-Publish when it calls this). Built by the harness "image" command with
    the SDK's container support (dotnet publish -t:PublishContainer, self-contained, the image settings of the
    broker's project file); this machine cannot reach mcr.microsoft.com, so the base image is a stand-in made from
    this host's Debian packages (apt-get download, dpkg-deb; cached in artifacts/image-base) and served by a registry
    on loopback: ContainerBaseImage is the one property that differs from release.yml's image. Linux with apt and
    dpkg only; elsewhere it says so and makes nothing.
    #>
    $dir = Get-Variable -Name releaseDir -ValueOnly -ErrorAction Ignore
    if (-not $dir) { $dir = Join-Path $ArtifactsDir 'release' }
    $ver = Get-Variable -Name version -ValueOnly -ErrorAction Ignore
    $notMade = Get-Variable -Name skipped -ValueOnly -ErrorAction Ignore
    $madeList = Get-Variable -Name made -ValueOnly -ErrorAction Ignore
    $asset = 'ghaport-broker-image.tar.gz'
    $missing = @('apt-get', 'dpkg-deb' | Where-Object { -not (Get-Command $_ -ErrorAction Ignore) })
    if (-not $IsLinux -or $missing.Count -gt 0) {
        $why = if (-not $IsLinux) { 'not Linux' } else { "no $($missing -join ', ') on PATH" }
        $message = "$asset (its stand-in base layer is made from Debian packages: $why; release.yml builds the image on mcr.microsoft.com/dotnet/runtime-deps)"
        if ($null -ne $notMade) { $notMade.Add($message) } else { Write-Host "not made: $message" -ForegroundColor Yellow }
        return
    }

    $null = New-Item -ItemType Directory -Path $dir -Force
    $output = Join-Path $dir $asset
    Write-Step "Broker image -> $output"
    $imageArgs = @('run', '-c', $Configuration, '--project', $HarnessProject, '--', 'image', '--output', $output)
    if ($ver) { $imageArgs += @('--version', $ver) }
    Invoke-Native dotnet $imageArgs
    if ($null -ne $madeList) { $madeList.Add([pscustomobject] @{ Asset = $asset; Kind = 'oci image' }) }
}

try {
    switch ($Target) {
        'build' { Invoke-Build }
        'test' { Invoke-Test }
        'demo' { Invoke-Harness -Command 'demo' }
        'bench' { Invoke-Harness -Command 'bench' }
        'publish' { Invoke-Publish }
    }
}
catch {
    Write-Problem "$Target failed: $($_.Exception.Message)"
    exit 1
}
exit 0
