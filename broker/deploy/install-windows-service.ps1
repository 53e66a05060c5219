<#
.SYNOPSIS
    Installs (or removes) the GitHub Actions Port broker as a Windows service.

.DESCRIPTION
    The broker binary runs as a Windows service through the .NET Windows-service integration: the Service Control
    Manager starts and stops it, and it logs to the Application event log under the source "ghaport-broker".

    A stop (Stop-Service, sc.exe stop) drains: new sessions and tunnels are sent to another instance while open
    tunnels run on for up to Broker:Transport:DrainTimeout (30 s), and the service stays "stop pending" until then
    (plus up to 25 s). A Windows shutdown gives services only a few seconds (WaitToKillServiceTimeout), so stop the
    service before rebooting the host to let it drain.

    The service runs as its own virtual account, NT SERVICE\ghaport-broker: no password, no rights beyond what is
    granted here. Layout:
      $InstallDir                      the binary (read and execute for the service)
      $DataDir\config\broker.json      the configuration (read-only for the service)
      $DataDir\state\                  lease-signing key, admin credential, audit trail (modify for the service only)

    Run from an elevated PowerShell, next to the published win-x64 ghaport-broker.exe:
      .\install-windows-service.ps1 -Binary .\ghaport-broker.exe
      .\install-windows-service.ps1 -Uninstall

.PARAMETER Binary
    The published ghaport-broker.exe (dotnet publish -r win-x64 --self-contained -p:PublishSingleFile=true).
#>
[CmdletBinding(DefaultParameterSetName = 'Install')]
param(
    [Parameter(ParameterSetName = 'Install')] [string] $Binary = (Join-Path $PSScriptRoot 'ghaport-broker.exe'),
    [Parameter(ParameterSetName = 'Install')] [string] $Config = (Join-Path $PSScriptRoot 'broker.example.json'),
    [string] $InstallDir = (Join-Path $env:ProgramFiles 'ghaport-broker'),
    [string] $DataDir = (Join-Path $env:ProgramData 'ghaport-broker'),
    [Parameter(ParameterSetName = 'Uninstall', Mandatory)] [switch] $Uninstall
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$ServiceName = 'ghaport-broker'
$Account = "NT SERVICE\$ServiceName"
# The event-log source the broker writes to: its application name (the .NET integration's default).
$EventSource = 'ghaport-broker'

function Invoke-Sc {
    & sc.exe @args | Out-Host
    if ($LASTEXITCODE -ne 0) { throw "sc.exe $($args -join ' ') failed with $LASTEXITCODE" }
}

$principal = New-Object Security.Principal.WindowsPrincipal([Security.Principal.WindowsIdentity]::GetCurrent())
if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    throw 'Run this script from an elevated (administrator) PowerShell.'
}

if ($Uninstall) {
    if (Get-Service -Name $ServiceName -ErrorAction SilentlyContinue) {
        Stop-Service -Name $ServiceName -ErrorAction SilentlyContinue
        Invoke-Sc delete $ServiceName
    }
    if ([Diagnostics.EventLog]::SourceExists($EventSource)) { [Diagnostics.EventLog]::DeleteEventSource($EventSource) }
    Remove-Item -Recurse -Force -ErrorAction SilentlyContinue $InstallDir
    Write-Host "Removed $ServiceName. Its data (keys, audit trail) is kept in $DataDir; delete it yourself if no longer needed."
    return
}

if (-not (Test-Path $Binary)) { throw "No broker binary at $Binary (publish it with -r win-x64 first)." }
if (Get-Service -Name $ServiceName -ErrorAction SilentlyContinue) {
    throw "Service $ServiceName exists already; run with -Uninstall first (data in $DataDir is kept)."
}

# Binary.
New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
Copy-Item -Force $Binary (Join-Path $InstallDir 'ghaport-broker.exe')
$exe = Join-Path $InstallDir 'ghaport-broker.exe'

# Configuration and state folders.
$configDir = Join-Path $DataDir 'config'
$stateDir = Join-Path $DataDir 'state'
New-Item -ItemType Directory -Force -Path $configDir, $stateDir | Out-Null
$configFile = Join-Path $configDir 'broker.json'
if (-not (Test-Path $configFile)) { Copy-Item $Config $configFile }

# The service: a virtual account, started at boot (delayed, once the network is up), stopped by the SCM.
New-Service -Name $ServiceName `
    -BinaryPathName "`"$exe`" run --config `"$configFile`"" `
    -DisplayName 'GitHub Actions Port broker' `
    -Description 'Grants GitHub Actions jobs OIDC-authenticated TCP tunnels to private targets.' `
    -StartupType Automatic | Out-Null
Invoke-Sc config $ServiceName obj= $Account start= delayed-auto
Invoke-Sc sidtype $ServiceName unrestricted
# Recovery: restart after 5 s, 5 s, then 60 s; the failure count resets after a day. failureflag 1 also counts a
# stop with a non-zero exit code (e.g. a lost listener) as a failure, not only a crash.
Invoke-Sc failure $ServiceName reset= 86400 actions= restart/5000/restart/5000/restart/60000
Invoke-Sc failureflag $ServiceName 1

# Where the broker keeps its files: in the state folder, not the virtual account's profile.
$environment = @(
    "Broker__Leases__SigningKeyPath=$(Join-Path $stateDir 'lease-signing-key.pem')",
    "Broker__Audit__Path=$(Join-Path $stateDir 'audit\audit.jsonl')",
    # The admin credential is made on first start as admin-token beside the signing key; a configured
    # Broker__Admin__TokenFile would have to exist already, so it is left unset.
    'DOTNET_CLI_TELEMETRY_OPTOUT=1'
)
New-ItemProperty -Force -Path "HKLM:\SYSTEM\CurrentControlSet\Services\$ServiceName" `
    -Name Environment -PropertyType MultiString -Value $environment | Out-Null

# Event log source (the service could not create it itself: that needs administrator rights).
if (-not [Diagnostics.EventLog]::SourceExists($EventSource)) {
    [Diagnostics.EventLog]::CreateEventSource($EventSource, 'Application')
}

# ACLs: no inheritance from ProgramData (where Users may read and create); SYSTEM and Administrators in full;
# the service reads its binary and configuration and modifies only its state. Nobody else gets anything.
& icacls.exe $InstallDir /inheritance:r /grant:r 'SYSTEM:(OI)(CI)F' 'Administrators:(OI)(CI)F' "${Account}:(OI)(CI)RX" | Out-Host
& icacls.exe $DataDir /inheritance:r /grant:r 'SYSTEM:(OI)(CI)F' 'Administrators:(OI)(CI)F' "${Account}:(OI)(CI)RX" | Out-Host
& icacls.exe $stateDir /inheritance:r /grant:r 'SYSTEM:(OI)(CI)F' 'Administrators:(OI)(CI)F' "${Account}:(OI)(CI)M" | Out-Host
if ($LASTEXITCODE -ne 0) { throw "icacls failed with $LASTEXITCODE" }

Write-Host "Installed $ServiceName as $Account."
Write-Host "Edit $configFile, then: Start-Service $ServiceName"
Write-Host "Logs: Get-WinEvent -LogName Application -MaxEvents 50 | Where-Object ProviderName -eq '$EventSource'"
