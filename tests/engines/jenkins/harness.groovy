#!/usr/bin/env groovy
/*
 * mlgen Jenkins harness: runs a declarative Jenkinsfile without Jenkins (Groovy 2.4).
 *
 * The Jenkinsfile is evaluated as a real Groovy script. Its `pipeline { ... }` closure and every
 * section in it are run against delegate objects that build a model. Then the model is executed:
 * stages, when, input, options, post, and real `sh` steps in --workdir. Groovy's own string rules
 * apply ('...' is literal, "..." interpolates), which is the point: the harness checks the
 * escaping that the compiler emits.
 *
 * Anything the harness does not know (a directive, step, option, when condition or named
 * argument) is a harness error (exit 4). It is never skipped without a word. See README.md.
 *
 * Usage: groovy harness.groovy --jenkinsfile PATH --workdir DIR [options]   (see usage() below)
 */

import groovy.json.JsonOutput
import groovy.transform.CompileStatic
import org.codehaus.groovy.ast.ClassCodeExpressionTransformer
import org.codehaus.groovy.ast.ClassNode
import org.codehaus.groovy.ast.expr.ClosureExpression
import org.codehaus.groovy.ast.expr.ConstantExpression
import org.codehaus.groovy.ast.expr.Expression
import org.codehaus.groovy.ast.expr.MapExpression
import org.codehaus.groovy.ast.expr.MethodCallExpression
import org.codehaus.groovy.ast.expr.TupleExpression
import org.codehaus.groovy.classgen.GeneratorContext
import org.codehaus.groovy.control.CompilePhase
import org.codehaus.groovy.control.CompilerConfiguration
import org.codehaus.groovy.control.MultipleCompilationErrorsException
import org.codehaus.groovy.control.SourceUnit
import org.codehaus.groovy.control.customizers.CompilationCustomizer
import org.codehaus.groovy.syntax.SyntaxException

import java.nio.file.Files
import java.nio.file.LinkOption
import java.nio.file.StandardCopyOption
import java.util.concurrent.TimeUnit
import java.util.regex.Pattern

// Every class name starts with "Jh": the Jenkinsfile is compiled with this script's class loader,
// so a plain name such as `Steps` or `Result` could shadow a variable of the Jenkinsfile.

// ============================================================================================
// Errors
// ============================================================================================

/** The harness does not know or support something. Exit 4: no verdict on the pipeline. */
class JhHarnessError extends RuntimeException {
    JhHarnessError(String msg) { super(msg) }
}

/** A step failed with a clean message, as hudson.AbortException does: FAILURE, no stack trace. */
class JhStepFailure extends RuntimeException {
    JhStepFailure(String msg) { super(msg) }
}

/** FlowInterruptedException: input rejected or timeout exceeded. The build becomes `result`. */
class JhInterrupted extends RuntimeException {
    final String result
    final boolean timeout
    final int deadlineDepth     // index of the timeout that fired; lets retry tell inner from outer timeouts
    JhInterrupted(String msg, String result, boolean timeout, int deadlineDepth) {
        super(msg)
        this.result = result
        this.timeout = timeout
        this.deadlineDepth = deadlineDepth
    }
}

// ============================================================================================
// Small helpers
// ============================================================================================

class JhResult {
    // hudson.model.Result order: the later the worse.
    static final List<String> ORDER = ['SUCCESS', 'UNSTABLE', 'FAILURE', 'NOT_BUILT', 'ABORTED']
    static final Map<String, String> STATUS = [SUCCESS: 'passed', UNSTABLE: 'unstable', FAILURE: 'failed',
                                               NOT_BUILT: 'skipped', ABORTED: 'aborted']
    static final Map<String, Integer> EXIT = [SUCCESS: 0, FAILURE: 1, UNSTABLE: 2, ABORTED: 3, NOT_BUILT: 1]

    static String check(Object r, String what) {
        String s = r == null ? null : r.toString()
        if (!ORDER.contains(s)) {
            throw new JhHarnessError("${what}: unknown build result '${s}' (expected one of ${ORDER.join(', ')})")
        }
        return s
    }

    static String worst(String a, String b) {
        if (a == null) return b
        if (b == null) return a
        return ORDER.indexOf(a) >= ORDER.indexOf(b) ? a : b
    }

    static boolean worseThan(String a, String b) { ORDER.indexOf(a) > ORDER.indexOf(b) }
}

class JhArgs {
    /** Named arguments are checked like Jenkins' DescribableModel does: an unknown key is an error. */
    static Map check(String what, Map args, List<String> allowed, List<String> required = []) {
        List<String> unknown = args.keySet().collect { it.toString() }.findAll { !allowed.contains(it) }
        if (unknown) {
            throw new JhHarnessError("${what}: unknown argument(s) ${unknown.collect { "'" + it + "'" }.join(', ')}" +
                    " (supported: ${allowed.join(', ')})")
        }
        List<String> missing = required.findAll { args[it] == null }
        if (missing) throw new JhHarnessError("${what}: missing required argument(s) ${missing.join(', ')}")
        return args
    }

    static boolean bool(Object v, boolean dflt = false) {
        if (v == null) return dflt
        if (v instanceof Boolean) return (Boolean) v
        return v.toString().toBoolean()
    }

    static String describe(Object[] args) {
        (args ?: new Object[0]).collect { it == null ? 'null' : it.getClass().simpleName }.join(', ')
    }

    /** The user-facing name of a call that JhCallRenamer rewrote (see there). */
    static String display(String name) {
        JhCallRenamer.RENAMES.find { k, v -> v == name }?.key ?: name
    }

    static final Pattern ENV_NAME = ~/[A-Za-z_][A-Za-z0-9_]*/

    static void envName(String name, String what) {
        if (!ENV_NAME.matcher(name).matches()) {
            throw new JhHarnessError("${what}: \"${name}\" is not a valid identifier for an environment variable")
        }
    }

    static long millis(Object time, Object unit, String what) {
        TimeUnit u
        try {
            u = TimeUnit.valueOf((unit ?: 'MINUTES').toString())
        } catch (IllegalArgumentException ignored) {
            throw new JhHarnessError("${what}: unknown unit '${unit}' (use one of ${TimeUnit.values()*.name().join(', ')})")
        }
        if (!(time instanceof Number) && !(time.toString().isNumber())) {
            throw new JhHarnessError("${what}: time must be a number, got '${time}'")
        }
        return u.toMillis(time.toString().toBigDecimal().longValue())
    }

    /** Turn model values (GStrings, specs) into things JsonOutput prints plainly. */
    static Object json(Object v) {
        if (v == null || v instanceof Number || v instanceof Boolean) return v
        if (v instanceof Map) return ((Map) v).collectEntries { k, x -> [(k.toString()): json(x)] }
        if (v instanceof Collection || v instanceof Object[]) return v.collect { json(it) }
        if (v instanceof Closure) return '{...}'
        return v.toString()
    }
}

/**
 * `sleep 5` and `equals expected:.., actual:..` inside a closure would silently bind to
 * DefaultGroovyMethods.sleep(long millis) and Object.equals on the closure itself: Groovy tries
 * the closure's own methods before its delegate. So such implicit-this calls are renamed at
 * compile time to names only the harness defines. Jenkins needs no such trick: its CPS
 * transformation sends every call through its own dispatcher.
 */
class JhCallRenamer extends CompilationCustomizer {
    static final Map<String, String> RENAMES = [sleep: 'jhSleepStep', equals: 'jhEqualsCondition']

    JhCallRenamer() { super(CompilePhase.CONVERSION) }

    @Override
    void call(SourceUnit source, GeneratorContext context, ClassNode classNode) {
        ClassCodeExpressionTransformer t = new ClassCodeExpressionTransformer() {
            @Override
            protected SourceUnit getSourceUnit() { source }

            @Override
            Expression transform(Expression e) {
                if (e instanceof ClosureExpression) {       // closure bodies are not visited by default
                    ((ClosureExpression) e).code.visit(this)
                    return e
                }
                if (e instanceof MethodCallExpression) {
                    MethodCallExpression call = (MethodCallExpression) e
                    JhCallRenamer.checkChain(source, call)
                    String newName = RENAMES[call.methodAsString]
                    // equals(x) with a plain argument is Object.equals; only the named-argument form is the condition
                    boolean named = call.methodAsString != 'equals' || JhCallRenamer.hasNamedArgs(call.arguments)
                    if (call.implicitThis && newName != null && named) {
                        MethodCallExpression renamed = new MethodCallExpression(
                                transform(call.objectExpression), new ConstantExpression(newName), transform(call.arguments))
                        renamed.implicitThis = true
                        renamed.sourcePosition = call
                        return renamed
                    }
                }
                return e.transformExpression(this)
            }
        }
        t.visitClass(classNode)
    }

    /**
     * `failure { ... } always { ... }` on one line is a Groovy command chain: failure({...}).always({...}).
     * Jenkins rejects it; without this check it would be an obscure NullPointerException.
     */
    static void checkChain(SourceUnit source, MethodCallExpression call) {
        if (call.implicitThis || !(call.objectExpression instanceof MethodCallExpression)) return
        MethodCallExpression inner = (MethodCallExpression) call.objectExpression
        if (inner.implicitThis && endsWithClosure(inner.arguments) && endsWithClosure(call.arguments)) {
            source.addError(new SyntaxException(
                    "'${inner.methodAsString} { ... } ${call.methodAsString} { ... }' is read by Groovy as " +
                    "${inner.methodAsString}(...).${call.methodAsString}(...): put each on its own line or separate them with ';'",
                    call.lineNumber, call.columnNumber))
        }
    }

    static boolean endsWithClosure(Expression args) {
        return args instanceof TupleExpression && ((TupleExpression) args).expressions &&
                ((TupleExpression) args).expressions[-1] instanceof ClosureExpression
    }

    static boolean hasNamedArgs(Expression args) {
        if (args instanceof TupleExpression) {
            return ((TupleExpression) args).expressions.any { it instanceof MapExpression }
        }
        return args instanceof MapExpression
    }
}

/** Ant-style patterns ("model/**", "**&#47;*.xml", "a.txt,b/*") as Jenkins uses for stash/archive/junit. */
class JhGlob {
    // Ant's default excludes (the ones that matter on a Unix checkout), on unless useDefaultExcludes: false.
    static final List<String> DEFAULT_EXCLUDES = ['**/*~', '**/#*#', '**/.#*', '**/%*%', '**/._*',
            '**/CVS', '**/CVS/**', '**/.cvsignore', '**/SCCS', '**/SCCS/**', '**/.svn', '**/.svn/**',
            '**/.DS_Store', '**/.git', '**/.git/**', '**/.gitattributes', '**/.gitignore', '**/.gitmodules',
            '**/.hg', '**/.hg/**', '**/.hgignore', '**/.bzr', '**/.bzr/**']

    static Pattern compile(String pattern, boolean caseSensitive) {
        String p = pattern.trim().replace('\\', '/')
        while (p.startsWith('./')) p = p.substring(2)
        if (p.endsWith('/')) p += '**'                      // Ant: a trailing slash means "everything below"
        StringBuilder re = new StringBuilder()
        int i = 0
        while (i < p.length()) {
            if (p.startsWith('**/', i)) { re.append('(?:.*/)?'); i += 3 }     // zero or more directories
            else if (p.startsWith('**', i)) { re.append('.*'); i += 2 }
            else if (p.charAt(i) == ('*' as char)) { re.append('[^/]*'); i++ }
            else if (p.charAt(i) == ('?' as char)) { re.append('[^/]'); i++ }
            else { re.append(Pattern.quote(p.substring(i, i + 1))); i++ }
        }
        return Pattern.compile(re.toString(), caseSensitive ? 0 : Pattern.CASE_INSENSITIVE)
    }

    static List<String> split(Object csv) {
        if (csv == null) return []
        return csv.toString().split(',').collect { it.trim() }.findAll { it }
    }

    /** Relative paths ('/'-separated, sorted) of the files under base that match. */
    static List<String> files(File base, Object includes, Object excludes, boolean defaultExcludes, boolean caseSensitive = true) {
        List<Pattern> inc = split(includes ?: '**').collect { compile(it, caseSensitive) }
        List<String> exStr = split(excludes) + (defaultExcludes ? DEFAULT_EXCLUDES : [])
        List<Pattern> exc = exStr.collect { compile(it, caseSensitive) }
        List<String> found = []
        if (base.isDirectory()) walk(base, '', found)
        return found.findAll { String rel ->
            inc.any { it.matcher(rel).matches() } && !exc.any { it.matcher(rel).matches() }
        }.sort()
    }

    private static void walk(File dir, String prefix, List<String> out) {
        File[] children = dir.listFiles()
        if (children == null) return
        for (File f : children) {
            String rel = prefix + f.name
            if (f.isDirectory() && !Files.isSymbolicLink(f.toPath())) walk(f, rel + '/', out)
            else if (f.isFile()) out << rel
        }
    }

    static void copy(File from, File to) {
        to.parentFile.mkdirs()
        Files.copy(from.toPath(), to.toPath(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.COPY_ATTRIBUTES,
                LinkOption.NOFOLLOW_LINKS)
    }

    /** Jenkins' GLOB comparator (branch, tag, changeRequest): Ant path matching, case-insensitive. */
    static boolean matches(String comparator, String pattern, String actual) {
        if (actual == null) return false
        switch (comparator ?: 'GLOB') {
            case 'EQUALS': return actual == pattern
            case 'REGEXP': return actual ==~ pattern
            case 'GLOB': return compile(pattern, false).matcher(actual).matches()
            default: throw new JhHarnessError("unknown comparator '${comparator}' (use EQUALS, GLOB or REGEXP)")
        }
    }
}

/** Jenkins cron syntax check (5 fields, H, H(a-b), ranges, steps, @daily...). Jenkins rejects bad specs at parse time. */
class JhCron {
    static final List<List<Integer>> RANGES = [[0, 59], [0, 23], [1, 31], [1, 12], [0, 7]]
    static final List<String> FIELDS = ['minute', 'hour', 'day of month', 'month', 'day of week']
    static final List<String> ALIASES = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']
    static final Pattern ITEM = ~/(\*|H(?:\((\d+)-(\d+)\))?|(\d+)(?:-(\d+))?)(?:\/(\d+))?/

    static void validate(String spec, String what) {
        spec.split('\n').each { String raw ->
            String line = raw.replaceAll(/#.*$/, '').trim()
            if (!line) return
            if (line.startsWith('TZ=')) {
                try {
                    java.time.ZoneId.of(line.substring(3).trim())
                } catch (Exception e) {
                    throw new JhHarnessError("${what}: invalid time zone in '${line}'")
                }
                return
            }
            if (line.startsWith('@')) {
                if (!ALIASES.contains(line)) throw new JhHarnessError("${what}: unknown cron alias '${line}'")
                return
            }
            String[] fields = line.split(/\s+/)
            if (fields.length != 5) {
                throw new JhHarnessError("${what}: '${line}' must have 5 fields (minute hour dom month dow), has ${fields.length}")
            }
            fields.eachWithIndex { String f, int i ->
                f.split(',', -1).each { String item ->
                    def m = ITEM.matcher(item)
                    if (!m.matches()) throw new JhHarnessError("${what}: invalid ${FIELDS[i]} '${item}' in '${line}'")
                    int lo = RANGES[i][0], hi = RANGES[i][1]
                    [m.group(2), m.group(3), m.group(4), m.group(5)].findAll { it != null }.each { String n ->
                        int v = n.toInteger()
                        if (v < lo || v > hi) {
                            throw new JhHarnessError("${what}: ${FIELDS[i]} value ${v} out of range ${lo}-${hi} in '${line}'")
                        }
                    }
                    if (m.group(6) != null && m.group(6).toInteger() == 0) {
                        throw new JhHarnessError("${what}: step 0 in '${line}'")
                    }
                }
            }
        }
    }
}

// ============================================================================================
// The model built from the Jenkinsfile
// ============================================================================================

class JhAgentKeyword {
    String kw
    String toString() { kw }
}

class JhAgent {
    String type                // any | none | label | docker
    String label
    String customWorkspace
    String image               // docker: checked and recorded; the harness has no container runtime
    Map toJson() { [type: type, label: label, customWorkspace: customWorkspace, image: image].findAll { k, v -> v != null } }
}

class JhOption {
    String name
    Map args = [:]
    Map toJson() { [name: name, args: JhArgs.json(args)] }
}

class JhCond {
    String type
    Map args = [:]
    List<JhCond> children = []
    Closure expr
    String describe() {
        if (children) return "${type}(${children*.describe().join(', ')})"
        if (expr != null) return "${type}{...}"
        return args ? "${type}(${args.collect { k, v -> "${k}: ${v}" }.join(', ')})" : type
    }
}

class JhWhen {
    List<JhCond> conds = []
    boolean beforeAgent, beforeInput, beforeOptions
    Closure source          // re-run at evaluation time: condition arguments are evaluated lazily, as in Jenkins
    String where
    Map toJson() {
        [conditions: conds*.describe(), beforeAgent: beforeAgent, beforeInput: beforeInput, beforeOptions: beforeOptions]
    }
}

class JhInput {
    String message, ok, submitter, submitterParameter, id
    List<Map> parameters = []
    Map toJson() { JhArgs.json([message: message, ok: ok, submitter: submitter, parameters: parameters*.name]) }
}

class JhPost {
    static final List<String> ORDER = ['always', 'changed', 'fixed', 'regression', 'aborted', 'failure', 'success',
                                       'unstable', 'unsuccessful', 'notBuilt', 'cleanup']
    Map<String, Closure> blocks = [:]
}

class JhMatrix {
    List<Map> axes = []                 // [name: 'X', values: ['a', 'b']]
    List<List<Map>> excludes = []       // each exclude: [[name:, values:, notValues:], ...]
    List<JhStage> stages
    JhAgent agent
    Closure environment
    List<JhOption> options = []
    JhWhen when
    JhInput input
    JhPost post

    /** Every combination of axis values (first axis outermost) minus the excluded ones. */
    List<Map<String, String>> cells() {
        List<Map<String, String>> out = [[:]]
        axes.each { Map axis ->
            List<Map<String, String>> next = []
            out.each { Map<String, String> partial ->
                axis.values.each { v -> next << (partial + [(axis.name): v.toString()]) }
            }
            out = next
        }
        return out.findAll { Map<String, String> cell -> !excludes.any { List<Map> ex -> excluded(ex, cell) } }
    }

    static boolean excluded(List<Map> ex, Map<String, String> cell) {
        ex.every { Map a ->
            String v = cell[a.name]
            a.values != null ? a.values*.toString().contains(v) : !a.notValues*.toString().contains(v)
        }
    }
}

class JhStage {
    String name
    JhAgent agent
    Closure environment
    List<JhOption> options = []
    JhWhen when
    JhInput input
    Closure steps
    List<JhStage> stages
    List<JhStage> parallel
    JhMatrix matrix
    JhPost post
    boolean failFast
    boolean reportable = true       // false for the synthetic stage of a matrix cell

    Map toJson() {
        Map m = [name: name]
        if (agent) m.agent = agent.toJson()
        if (options) m.options = options*.toJson()
        if (when) m.when = when.toJson()
        if (input) m.input = input.toJson()
        if (environment) m.environment = true
        if (steps) m.kind = 'steps'
        if (stages) { m.kind = 'stages'; m.stages = stages*.toJson() }
        if (parallel) { m.kind = 'parallel'; m.parallel = parallel*.toJson(); m.failFast = failFast }
        if (matrix) {
            m.kind = 'matrix'
            m.matrix = [axes: matrix.axes.collectEntries { [(it.name): it.values*.toString()] },
                        cells: matrix.cells(), stages: matrix.stages*.toJson()]
            if (matrix.agent) m.matrix.agent = matrix.agent.toJson()
            if (matrix.when) m.matrix.when = matrix.when.toJson()
            if (matrix.options) m.matrix.options = matrix.options*.toJson()
            if (matrix.post) m.matrix.post = matrix.post.blocks.keySet() as List
        }
        if (post) m.post = post.blocks.keySet() as List
        return m
    }
}

class JhPipeline {
    JhAgent agent
    List<JhOption> options = []
    List<Map> triggers = []
    List<Map> parameters = []
    Closure environment
    List<JhStage> stages
    JhPost post

    Map toJson() {
        JhArgs.json([agent: agent?.toJson(), options: options*.toJson(), triggers: triggers, parameters: parameters,
                     environment: environment != null, stages: stages*.toJson(),
                     post: post ? (post.blocks.keySet() as List) : []])
    }
}

// ============================================================================================
// Section delegates: they turn the declarative closures into the model
// ============================================================================================

/**
 * Base of the section delegates. Sections run with DELEGATE_FIRST, so a delegate's fields and
 * getters are visible to the Jenkinsfile as bare names: fields start with '_' to stay out of
 * the way. Unknown calls are unknown directives (exit 4). Unknown names throw
 * MissingPropertyException so that Groovy goes on to the owner (the script), which resolves
 * bindings and env variables.
 */
abstract class JhBlock {
    String _where
    String _kind = 'directive'      // what an unknown call is called in this section
    Set<String> _seen = new HashSet<String>()

    def methodMissing(String name, Object args) {
        String shown = JhArgs.display(name)
        boolean known = this.metaClass.methods.any { it.name == name }
        if (known) {
            throw new JhHarnessError("${_where}: invalid arguments for '${shown}' (${JhArgs.describe(args as Object[])})")
        }
        throw new JhHarnessError("unknown ${_kind} '${shown}' in ${_where}")
    }

    def propertyMissing(String name) { throw JhRunner.noSuchProperty(name) }

    void _once(String section) {
        if (!_seen.add(section)) throw new JhHarnessError("Multiple occurrences of the ${section} section in ${_where}")
    }

    static Object _run(Closure body, Object delegate) {
        Closure c = body.rehydrate(delegate, body.owner, body.thisObject)
        c.resolveStrategy = Closure.DELEGATE_FIRST
        return c.call()
    }

    static JhHarnessError _unsupported(String what, String where) {
        new JhHarnessError("'${what}' in ${where} is not supported by the mlgen Jenkins harness")
    }
}

class JhPipelineBlock extends JhBlock {
    JhPipeline _model = new JhPipeline()

    Object getAny() { new JhAgentKeyword(kw: 'any') }
    Object getNone() { new JhAgentKeyword(kw: 'none') }

    void agent(Object spec) { _once('agent'); _model.agent = JhAgentBlock._parse(spec, 'pipeline agent') }
    void options(Closure c) { _once('options'); _model.options = JhOptionsBlock._parse(c, 'pipeline options', true) }
    void triggers(Closure c) { _once('triggers'); _model.triggers = JhTriggersBlock._parse(c) }
    void parameters(Closure c) { _once('parameters'); _model.parameters = JhParametersBlock._parse(c, 'pipeline parameters') }
    void environment(Closure c) { _once('environment'); _model.environment = c }
    void stages(Closure c) { _once('stages'); _model.stages = JhStagesBlock._parse(c, 'pipeline stages', false) }
    void post(Closure c) { _once('post'); _model.post = JhPostBlock._parse(c, 'pipeline post') }
    void tools(Closure c) { throw _unsupported('tools', _where) }
    void libraries(Closure c) { throw _unsupported('libraries', _where) }

    static JhPipeline _parse(Closure body) {
        JhPipelineBlock b = new JhPipelineBlock(_where: 'pipeline')
        _run(body, b)
        if (b._model.agent == null) throw new JhHarnessError('Missing required section "agent" in pipeline')
        if (b._model.stages == null) throw new JhHarnessError('Missing required section "stages" in pipeline')
        return b._model
    }
}

class JhAgentBlock extends JhBlock {
    { _kind = 'agent type' }
    JhAgent _agent

    void label(String l) { _set(new JhAgent(type: 'label', label: l)) }
    void label(Map a) {
        JhArgs.check('agent label', a, ['label', 'customWorkspace'], ['label'])
        _set(new JhAgent(type: 'label', label: a.label.toString(), customWorkspace: a.customWorkspace?.toString()))
    }
    void node(Closure c) {
        JhNodeBlock n = new JhNodeBlock(_where: "${_where} node")
        _run(c, n)
        if (n._label == null) throw new JhHarnessError("${_where}: node { } needs a label")
        _set(new JhAgent(type: 'label', label: n._label, customWorkspace: n._customWorkspace))
    }
    void docker(String image) { _set(new JhAgent(type: 'docker', image: image)) }
    void docker(Closure c) {
        JhDockerBlock d = new JhDockerBlock(_where: "${_where} docker")
        _run(c, d)
        if (d._image == null) throw new JhHarnessError("${_where}: docker { } needs an image")
        _set(new JhAgent(type: 'docker', label: d._label, image: d._image))
    }
    void dockerfile(Object... a) { throw _unsupported('dockerfile agent', _where) }
    void kubernetes(Object... a) { throw _unsupported('kubernetes agent', _where) }

    void _set(JhAgent a) {
        if (_agent != null) throw new JhHarnessError("Only one agent type is allowed per agent section (${_where})")
        if (a.customWorkspace != null) throw _unsupported('customWorkspace', _where)
        _agent = a
    }

    static JhAgent _parse(Object spec, String where) {
        if (spec instanceof JhAgentKeyword) return new JhAgent(type: spec.kw)
        if (spec instanceof Closure) {
            JhAgentBlock b = new JhAgentBlock(_where: where)
            _run((Closure) spec, b)
            if (b._agent == null) throw new JhHarnessError("No agent type specified in ${where}")
            return b._agent
        }
        throw new JhHarnessError("${where}: only \"agent none\", \"agent any\" or \"agent { ... }\" are allowed, got '${spec}'")
    }
}

class JhDockerBlock extends JhBlock {
    String _image, _label
    void image(String i) { _image = i }
    void label(String l) { _label = l }
    void args(String a) { }
    void reuseNode(boolean r) { }
    void alwaysPull(boolean p) { }
    void registryUrl(String u) { }
    void registryCredentialsId(String c) { }
}

class JhNodeBlock extends JhBlock {
    String _label, _customWorkspace
    void label(String l) { _label = l }
    void customWorkspace(String w) { _customWorkspace = w }
}

class JhOptionsBlock extends JhBlock {
    { _kind = 'option' }
    List<JhOption> _opts = []
    boolean _pipeline

    void _add(String name, Map args) {
        if (_opts.any { it.name == name }) throw new JhHarnessError("Duplicate option name: \"${name}\" in ${_where}")
        _opts << new JhOption(name: name, args: args)
    }

    void _pipelineOnly(String name) {
        if (!_pipeline) throw new JhHarnessError("option '${name}' is only allowed in pipeline options, not in ${_where}")
    }

    void timeout(Map a) {
        JhArgs.check('option timeout', a, ['time', 'unit', 'activity'], ['time'])
        JhArgs.millis(a.time, a.unit, 'option timeout')
        _add('timeout', a)
    }
    void timeout(Number minutes) { timeout([time: minutes]) }
    void retry(Number n) { _add('retry', [count: n]) }
    void retry(Map a) {
        JhArgs.check('option retry', a, ['count'], ['count'])
        _add('retry', a)
    }
    void lock(String resource) { lock([resource: resource]) }
    void lock(Map a) {
        JhArgs.check('option lock', a, JhRunner.LOCK_ARGS)
        _add('lock', a)
    }
    void timestamps() { _add('timestamps', [:]) }
    void skipDefaultCheckout(boolean v = true) { _add('skipDefaultCheckout', [value: v]) }
    void ansiColor(String map) { _add('ansiColor', [colorMapName: map]) }
    void buildDiscarder(Object spec) {
        _pipelineOnly('buildDiscarder')
        if (!(spec instanceof Map) || spec.type != 'logRotator') {
            throw new JhHarnessError("option buildDiscarder: expected logRotator(...), got '${spec}'")
        }
        _add('buildDiscarder', spec)
    }
    Map logRotator(Map a) {
        JhArgs.check('logRotator', a, ['numToKeepStr', 'daysToKeepStr', 'artifactNumToKeepStr', 'artifactDaysToKeepStr'])
        a.each { k, v ->
            if (!v.toString().isInteger()) throw new JhHarnessError("logRotator: ${k} must be a number string, got '${v}'")
        }
        return [type: 'logRotator'] + a
    }
    void disableConcurrentBuilds(Map a = [:]) {
        _pipelineOnly('disableConcurrentBuilds')
        JhArgs.check('option disableConcurrentBuilds', a, ['abortPrevious'])
        _add('disableConcurrentBuilds', a)
    }
    void disableResume() { _pipelineOnly('disableResume'); _add('disableResume', [:]) }
    void newContainerPerStage() { _pipelineOnly('newContainerPerStage'); _add('newContainerPerStage', [:]) }
    void overrideIndexTriggers(boolean v) { _pipelineOnly('overrideIndexTriggers'); _add('overrideIndexTriggers', [value: v]) }
    void preserveStashes(Map a = [:]) {
        _pipelineOnly('preserveStashes')
        JhArgs.check('option preserveStashes', a, ['buildCount'])
        _add('preserveStashes', a)
    }
    void quietPeriod(Number n) { _pipelineOnly('quietPeriod'); _add('quietPeriod', [value: n]) }
    void skipStagesAfterUnstable() { _pipelineOnly('skipStagesAfterUnstable'); _add('skipStagesAfterUnstable', [:]) }
    void parallelsAlwaysFailFast() { _pipelineOnly('parallelsAlwaysFailFast'); _add('parallelsAlwaysFailFast', [:]) }
    void durabilityHint(String h) {
        _pipelineOnly('durabilityHint')
        if (!(h in ['MAX_SURVIVABILITY', 'SURVIVABLE_NONATOMIC', 'PERFORMANCE_OPTIMIZED'])) {
            throw new JhHarnessError("option durabilityHint: unknown hint '${h}'")
        }
        _add('durabilityHint', [value: h])
    }
    void checkoutToSubdirectory(String d) { throw _unsupported('checkoutToSubdirectory', _where) }

    static List<JhOption> _parse(Closure c, String where, boolean pipeline) {
        JhOptionsBlock b = new JhOptionsBlock(_where: where, _pipeline: pipeline)
        _run(c, b)
        return b._opts
    }
}

class JhTriggersBlock extends JhBlock {
    { _kind = 'trigger' }
    List<Map> _triggers = []

    void cron(String spec) { JhCron.validate(spec, 'trigger cron'); _triggers << [type: 'cron', spec: spec] }
    void pollSCM(String spec) { JhCron.validate(spec, 'trigger pollSCM'); _triggers << [type: 'pollSCM', spec: spec] }
    void upstream(Map a) {
        JhArgs.check('trigger upstream', a, ['upstreamProjects', 'threshold'], ['upstreamProjects'])
        _triggers << ([type: 'upstream'] + a)
    }

    static List<Map> _parse(Closure c) {
        JhTriggersBlock b = new JhTriggersBlock(_where: 'pipeline triggers')
        _run(c, b)
        List<String> types = b._triggers*.type
        String dup = types.find { t -> types.count(t) > 1 }
        if (dup) throw new JhHarnessError("Duplicate trigger name: \"${dup}\"")
        return b._triggers
    }
}

/** Build parameter definitions: used by `parameters { }`, `input { parameters { } }` and the input step. */
class JhParamDefs {
    static final Map<String, List<String>> ARGS = [
            booleanParam: ['name', 'defaultValue', 'description'],
            string      : ['name', 'defaultValue', 'description', 'trim'],
            text        : ['name', 'defaultValue', 'description', 'trim'],
            password    : ['name', 'defaultValue', 'description'],
            choice      : ['name', 'choices', 'description'],
    ]

    static Map define(String type, Map a) {
        JhArgs.check("parameter ${type}", a, ARGS[type], ['name'])
        Map p = [type: type, name: a.name.toString(), description: a.description?.toString()]
        switch (type) {
            case 'booleanParam': p.defaultValue = JhArgs.bool(a.defaultValue); break
            case 'choice':
                List choices = a.choices instanceof Collection ? a.choices*.toString() :
                        (a.choices == null ? [] : a.choices.toString().split('\n') as List)
                if (!choices) throw new JhHarnessError("parameter choice '${p.name}': no choices")
                p.choices = choices
                p.defaultValue = choices[0]
                break
            default: p.defaultValue = a.defaultValue == null ? '' : a.defaultValue.toString()
        }
        return p
    }

    /** A --param value (string) turned into the parameter's type, as Jenkins' API would. */
    static Object coerce(Map p, String raw) {
        switch (p.type) {
            case 'booleanParam':
                if (!(raw in ['true', 'false'])) throw new JhHarnessError("--param ${p.name}: booleanParam wants true or false")
                return raw.toBoolean()
            case 'choice':
                if (!p.choices.contains(raw)) throw new JhHarnessError("--param ${p.name}: '${raw}' is not one of ${p.choices}")
                return raw
            default: return raw
        }
    }
}

class JhParametersBlock extends JhBlock {
    { _kind = 'parameter type' }
    List<Map> _params = []

    void _add(Map p) {
        if (_params.any { it.name == p.name }) throw new JhHarnessError("${_where}: duplicate parameter '${p.name}'")
        _params << p
    }
    void booleanParam(Map a) { _add(JhParamDefs.define('booleanParam', a)) }
    void string(Map a) { _add(JhParamDefs.define('string', a)) }
    void text(Map a) { _add(JhParamDefs.define('text', a)) }
    void password(Map a) { _add(JhParamDefs.define('password', a)) }
    void choice(Map a) { _add(JhParamDefs.define('choice', a)) }

    static List<Map> _parse(Closure c, String where) {
        JhParametersBlock b = new JhParametersBlock(_where: where)
        _run(c, b)
        return b._params
    }
}

class JhStagesBlock extends JhBlock {
    List<JhStage> _stages = []
    boolean _nestedLimit    // inside parallel or matrix: no further parallel/matrix

    void stage(String name, Closure body) {
        if (_stages.any { it.name == name }) throw new JhHarnessError("Duplicate stage name: \"${name}\" in ${_where}")
        _stages << JhStageBlock._parse(name, body, _nestedLimit)
    }

    static List<JhStage> _parse(Closure c, String where, boolean nestedLimit) {
        JhStagesBlock b = new JhStagesBlock(_where: where, _nestedLimit: nestedLimit)
        _run(c, b)
        if (!b._stages) throw new JhHarnessError("No stages specified in ${where}")
        return b._stages
    }
}

class JhStageBlock extends JhBlock {
    JhStage _s
    boolean _nestedLimit

    Object getAny() { new JhAgentKeyword(kw: 'any') }
    Object getNone() { new JhAgentKeyword(kw: 'none') }

    void agent(Object spec) { _once('agent'); _s.agent = JhAgentBlock._parse(spec, "agent of ${_where}") }
    void environment(Closure c) { _once('environment'); _s.environment = c }
    void options(Closure c) { _once('options'); _s.options = JhOptionsBlock._parse(c, "options of ${_where}", false) }
    void when(Closure c) { _once('when'); _s.when = JhWhenBlock._parseAtLoad(c, "when of ${_where}") }
    void input(Closure c) { _once('input'); _s.input = JhInputBlock._parse(c, "input of ${_where}") }
    void steps(Closure c) { _once('steps'); _s.steps = c }
    void stages(Closure c) { _once('stages'); _s.stages = JhStagesBlock._parse(c, "stages of ${_where}", _nestedLimit) }
    void parallel(Closure c) {
        _once('parallel')
        if (_nestedLimit) throw new JhHarnessError("${_where}: parallel is not allowed inside parallel or matrix")
        _s.parallel = JhStagesBlock._parse(c, "parallel of ${_where}", true)
    }
    void matrix(Closure c) {
        _once('matrix')
        if (_nestedLimit) throw new JhHarnessError("${_where}: matrix is not allowed inside parallel or matrix")
        _s.matrix = JhMatrixBlock._parse(c, "matrix of ${_where}")
    }
    void post(Closure c) { _once('post'); _s.post = JhPostBlock._parse(c, "post of ${_where}") }
    void failFast(boolean v) { _once('failFast'); _s.failFast = v }
    void tools(Closure c) { throw _unsupported('tools', _where) }

    static JhStage _parse(String name, Closure body, boolean nestedLimit) {
        JhStageBlock b = new JhStageBlock(_where: "stage '${name}'", _s: new JhStage(name: name), _nestedLimit: nestedLimit)
        _run(body, b)
        JhStage s = b._s
        int kinds = [s.steps, s.stages, s.parallel, s.matrix].count { it != null }
        if (kinds != 1) {
            throw new JhHarnessError("Stage \"${name}\" must have one and only one of \"steps\", \"stages\", \"parallel\", or \"matrix\"")
        }
        if (s.failFast && s.parallel == null && s.matrix == null) {
            throw new JhHarnessError("stage '${name}': failFast only applies to parallel or matrix")
        }
        return s
    }
}

class JhMatrixBlock extends JhBlock {
    JhMatrix _m = new JhMatrix()

    Object getAny() { new JhAgentKeyword(kw: 'any') }
    Object getNone() { new JhAgentKeyword(kw: 'none') }

    void axes(Closure c) {
        _once('axes')
        JhAxesBlock b = new JhAxesBlock(_where: "axes of ${_where}")
        _run(c, b)
        if (!b._axes) throw new JhHarnessError("${_where}: axes must have at least one axis")
        _m.axes = b._axes
    }
    void excludes(Closure c) {
        _once('excludes')
        JhExcludesBlock b = new JhExcludesBlock(_where: "excludes of ${_where}")
        _run(c, b)
        _m.excludes = b._excludes
    }
    void stages(Closure c) { _once('stages'); _m.stages = JhStagesBlock._parse(c, "stages of ${_where}", true) }
    void agent(Object spec) { _once('agent'); _m.agent = JhAgentBlock._parse(spec, "agent of ${_where}") }
    void environment(Closure c) { _once('environment'); _m.environment = c }
    void options(Closure c) { _once('options'); _m.options = JhOptionsBlock._parse(c, "options of ${_where}", false) }
    void when(Closure c) { _once('when'); _m.when = JhWhenBlock._parseAtLoad(c, "when of ${_where}") }
    void input(Closure c) { _once('input'); _m.input = JhInputBlock._parse(c, "input of ${_where}") }
    void post(Closure c) { _once('post'); _m.post = JhPostBlock._parse(c, "post of ${_where}") }
    void tools(Closure c) { throw _unsupported('tools', _where) }

    static JhMatrix _parse(Closure c, String where) {
        JhMatrixBlock b = new JhMatrixBlock(_where: where)
        _run(c, b)
        if (!b._m.axes) throw new JhHarnessError("Missing required section \"axes\" in ${where}")
        if (b._m.stages == null) throw new JhHarnessError("Missing required section \"stages\" in ${where}")
        b._m.excludes.each { List<Map> ex ->
            ex.each { Map a ->
                if (!b._m.axes.any { it.name == a.name }) throw new JhHarnessError("${where}: exclude names unknown axis '${a.name}'")
            }
        }
        if (!b._m.cells()) throw new JhHarnessError("${where}: every combination is excluded")
        return b._m
    }
}

class JhAxesBlock extends JhBlock {
    List<Map> _axes = []
    void axis(Closure c) {
        JhAxisBlock a = new JhAxisBlock(_where: "axis of ${_where}", _exclude: false)
        _run(c, a)
        Map axis = a._done()
        if (_axes.any { it.name == axis.name }) throw new JhHarnessError("${_where}: duplicate axis '${axis.name}'")
        _axes << axis
    }
}

class JhAxisBlock extends JhBlock {
    String _name
    List _values, _notValues
    boolean _exclude

    void name(String n) { _name = n }
    void values(Object... v) { _values = v as List }
    void notValues(Object... v) {
        if (!_exclude) throw new JhHarnessError("${_where}: notValues is only allowed in excludes")
        _notValues = v as List
    }

    Map _done() {
        if (_name == null) throw new JhHarnessError("${_where}: axis needs a name")
        JhArgs.envName(_name, _where)
        if ((_values == null) == (_notValues == null)) {
            throw new JhHarnessError("${_where}: axis '${_name}' needs ${_exclude ? 'values or notValues' : 'values'}")
        }
        if (_values != null && _values.isEmpty()) throw new JhHarnessError("${_where}: axis '${_name}' has no values")
        return [name: _name, values: _values*.toString(), notValues: _notValues*.toString()]
    }
}

class JhExcludesBlock extends JhBlock {
    List<List<Map>> _excludes = []
    void exclude(Closure c) {
        JhExcludeBlock b = new JhExcludeBlock(_where: "exclude of ${_where}")
        _run(c, b)
        if (!b._axes) throw new JhHarnessError("${_where}: exclude needs at least one axis")
        _excludes << b._axes
    }
}

class JhExcludeBlock extends JhBlock {
    List<Map> _axes = []
    void axis(Closure c) {
        JhAxisBlock a = new JhAxisBlock(_where: "axis of ${_where}", _exclude: true)
        _run(c, a)
        _axes << a._done()
    }
}

class JhWhenBlock extends JhBlock {
    { _kind = 'when condition' }
    JhWhen _when = new JhWhen()
    boolean _nested

    void _add(String type, Map args = [:], List<JhCond> children = [], Closure expr = null) {
        _when.conds << new JhCond(type: type, args: args, children: children, expr: expr)
    }

    void branch(String pattern) { branch([pattern: pattern]) }
    void branch(Map a) {
        JhArgs.check('when branch', a, ['pattern', 'comparator'], ['pattern'])
        JhGlob.matches(a.comparator?.toString(), 'x', 'x')      // validates the comparator
        _add('branch', a)
    }
    void tag(String pattern) { tag([pattern: pattern]) }
    void tag(Map a) {
        JhArgs.check('when tag', a, ['pattern', 'comparator'], ['pattern'])
        JhGlob.matches(a.comparator?.toString(), 'x', 'x')
        _add('tag', a)
    }
    void buildingTag() { _add('buildingTag') }
    void changeRequest(Map a = [:]) {
        JhArgs.check('when changeRequest', a, ['id', 'target', 'branch', 'fork', 'url', 'title', 'author',
                                               'authorDisplayName', 'authorEmail', 'comparator'])
        JhGlob.matches(a.comparator?.toString(), 'x', 'x')
        _add('changeRequest', a)
    }
    void environment(Map a) {
        JhArgs.check('when environment', a, ['name', 'value', 'ignoreCase', 'comparator'], ['name', 'value'])
        JhGlob.matches(a.comparator?.toString() ?: 'EQUALS', 'x', 'x')
        _add('environment', a)
    }
    void jhEqualsCondition(Map a) {         // `equals expected: .., actual: ..` (renamed, see JhCallRenamer)
        JhArgs.check('when equals', a, ['expected', 'actual'], ['expected'])
        if (!a.containsKey('actual')) throw new JhHarnessError('when equals: missing required argument(s) actual')
        _add('equals', a)
    }
    void triggeredBy(String cause) { triggeredBy([cause: cause]) }
    void triggeredBy(Map a) {
        JhArgs.check('when triggeredBy', a, ['cause', 'detail'], ['cause'])
        _add('triggeredBy', a)
    }
    void isRestartedRun() { _add('isRestartedRun') }
    void expression(Closure c) { _add('expression', [:], [], c) }
    void not(Closure c) { _add('not', [:], _children(c, 'not', 1)) }
    void anyOf(Closure c) { _add('anyOf', [:], _children(c, 'anyOf', 0)) }
    void allOf(Closure c) { _add('allOf', [:], _children(c, 'allOf', 0)) }
    void beforeAgent(boolean v) { _flag('beforeAgent'); _when.beforeAgent = v }
    void beforeInput(boolean v) { _flag('beforeInput'); _when.beforeInput = v }
    void beforeOptions(boolean v) { _flag('beforeOptions'); _when.beforeOptions = v }
    void changelog(Object p) { throw _unsupported('when changelog', _where) }
    void changeset(Object p) { throw _unsupported('when changeset', _where) }

    void _flag(String name) {
        if (_nested) throw new JhHarnessError("${_where}: ${name} is only allowed at the top of when")
        _once(name)
    }

    List<JhCond> _children(Closure c, String type, int exactly) {
        JhWhenBlock b = new JhWhenBlock(_where: "${type} in ${_where}", _nested: true)
        _run(c, b)
        List<JhCond> kids = b._when.conds
        if (exactly > 0 && kids.size() != exactly) {
            throw new JhHarnessError("Nested when condition \"${type}\" requires exactly ${exactly} child condition(s) (${_where})")
        }
        if (kids.isEmpty()) throw new JhHarnessError("Nested when condition \"${type}\" requires at least one child condition (${_where})")
        return kids
    }

    /** Load-time parse checks the structure only: names that exist only at run time (stage environment) read as placeholders. */
    static JhWhen _parseAtLoad(Closure c, String where) {
        JhRunner rt = JhRunner.current
        boolean saved = rt.dryRun
        rt.dryRun = true
        try {
            return _parse(c, where)
        } finally {
            rt.dryRun = saved
        }
    }

    static JhWhen _parse(Closure c, String where) {
        JhWhenBlock b = new JhWhenBlock(_where: where)
        _run(c, b)
        if (!b._when.conds) throw new JhHarnessError("Empty when closure in ${where}")
        b._when.source = c
        b._when.where = where
        return b._when
    }
}

class JhInputBlock extends JhBlock {
    JhInput _in = new JhInput()
    void message(String m) { _in.message = m }
    void ok(String o) { _in.ok = o }
    void submitter(String s) { _in.submitter = s }
    void submitterParameter(String s) { JhArgs.envName(s, _where); _in.submitterParameter = s }
    void id(String i) { _in.id = i }
    void parameters(Closure c) { _once('parameters'); _in.parameters = JhParametersBlock._parse(c, "parameters of ${_where}") }

    static JhInput _parse(Closure c, String where) {
        JhInputBlock b = new JhInputBlock(_where: where)
        _run(c, b)
        if (b._in.message == null) throw new JhHarnessError("No message specified for input (${where})")
        return b._in
    }
}

class JhPostBlock extends JhBlock {
    { _kind = 'post condition' }
    JhPost _post = new JhPost()

    void _add(String cond, Closure c) {
        if (_post.blocks.containsKey(cond)) throw new JhHarnessError("Duplicate build condition name: \"${cond}\" in ${_where}")
        _post.blocks[cond] = c
    }
    void always(Closure c) { _add('always', c) }
    void changed(Closure c) { _add('changed', c) }
    void fixed(Closure c) { _add('fixed', c) }
    void regression(Closure c) { _add('regression', c) }
    void aborted(Closure c) { _add('aborted', c) }
    void failure(Closure c) { _add('failure', c) }
    void success(Closure c) { _add('success', c) }
    void unstable(Closure c) { _add('unstable', c) }
    void unsuccessful(Closure c) { _add('unsuccessful', c) }
    void notBuilt(Closure c) { _add('notBuilt', c) }
    void cleanup(Closure c) { _add('cleanup', c) }

    static JhPost _parse(Closure c, String where) {
        JhPostBlock b = new JhPostBlock(_where: where)
        _run(c, b)
        if (!b._post.blocks) throw new JhHarnessError("post can not be empty (${where})")
        return b._post
    }
}

/** Runs an `environment { K = v }` closure: assignments land in a live overlay, so later
 * entries can read earlier ones, as in Jenkins. */
class JhEnvironmentBlock extends JhBlock {
    { _kind = 'environment function' }
    JhRunner _rt
    Map<String, String> _into

    Object getEnv() { _rt.envObj }
    Object getParams() { _rt.paramsView }
    Object getCurrentBuild() { _rt.currentBuildObj }

    Object credentials(String id) { new JhCredentialRef(id: id) }

    def propertyMissing(String name) {
        if (_into.containsKey(name)) return _into[name]
        throw JhRunner.noSuchProperty(name)          // the owner chain ends at the script, which knows env vars
    }

    def propertyMissing(String name, Object value) {
        JhArgs.envName(name, _where)
        if (_into.containsKey(name)) throw new JhHarnessError("Duplicate environment variable name: \"${name}\" in ${_where}")
        if (value instanceof JhCredentialRef) {
            _rt.bindEnvironmentCredential(_into, name, ((JhCredentialRef) value).id)
        } else {
            _into[name] = value == null ? 'null' : value.toString()
        }
    }
}

class JhCredentialRef {
    String id
    String toString() { "credentials('${id}')" }
}

// ============================================================================================
// Runtime objects the Jenkinsfile sees: env, params, currentBuild, scm, and the steps
// ============================================================================================

/** `env`: reads see withEnv/stage overlays first; writes are build-wide, as `env.X = ...` in Jenkins. */
class JhEnvObject {
    final JhRunner _rt
    JhEnvObject(JhRunner rt) { _rt = rt }
    Object getProperty(String name) { _rt.envGet(name) }
    void setProperty(String name, Object value) { _rt.envSetGlobal(name, value) }
    Object getAt(String name) { _rt.envGet(name) }
    void putAt(String name, Object value) { _rt.envSetGlobal(name, value) }
    Map<String, String> getEnvironment() { _rt.processEnv() }
    String toString() { 'env' }
}

class JhScm {
    static final JhScm INSTANCE = new JhScm()
    String toString() { 'scm' }
}

class JhPreviousBuild {
    String result
    int number
    String getCurrentResult() { result }
}

/** `currentBuild` (RunWrapper). Unknown members are harness errors, not silent nulls. */
class JhCurrentBuild {
    final JhRunner _rt
    String displayName
    String description
    boolean keepLog
    JhCurrentBuild(JhRunner rt) { _rt = rt; displayName = "#${rt.cfg.buildNumber}" }

    String getResult() { _rt.buildResult }
    void setResult(Object r) {
        if (_rt.dryRun) return
        String v = JhResult.check(r, 'currentBuild.result')
        _rt.log("currentBuild.result = ${v}")
        _rt.buildResult = JhResult.worst(_rt.buildResult, v)     // like Run.setResult: it only gets worse
    }
    String getCurrentResult() { _rt.buildResult ?: 'SUCCESS' }
    int getNumber() { _rt.cfg.buildNumber.toInteger() }
    String getId() { _rt.cfg.buildNumber }
    String getProjectName() { _rt.envGet('JOB_BASE_NAME') }
    String getFullProjectName() { _rt.envGet('JOB_NAME') }
    String getFullDisplayName() { "${_rt.envGet('JOB_NAME')} ${displayName}" }
    String getAbsoluteUrl() { _rt.envGet('BUILD_URL') }
    long getStartTimeInMillis() { _rt.startMillis }
    long getTimeInMillis() { _rt.startMillis }
    long getDuration() { System.currentTimeMillis() - _rt.startMillis }
    String getDurationString() { "${(long) (getDuration() / 1000)} sec" }
    Object getPreviousBuild() {
        _rt.cfg.previousResult ? new JhPreviousBuild(result: _rt.cfg.previousResult, number: getNumber() - 1) : null
    }
    List getChangeSets() { [] }
    List getBuildCauses(String type = null) {
        _rt.causes().findAll { type == null || it._class.contains(type) }
    }
    boolean resultIsBetterOrEqualTo(String r) { !JhResult.worseThan(getCurrentResult(), JhResult.check(r, 'resultIsBetterOrEqualTo')) }
    boolean resultIsWorseOrEqualTo(String r) { !JhResult.worseThan(JhResult.check(r, 'resultIsWorseOrEqualTo'), getCurrentResult()) }

    def propertyMissing(String name) { throw new JhHarnessError("currentBuild.${name} is not supported by the harness") }
    def propertyMissing(String name, Object v) { throw new JhHarnessError("currentBuild.${name} is not supported by the harness") }
    def methodMissing(String name, Object args) { throw new JhHarnessError("currentBuild.${name}() is not supported by the harness") }
}

class JhBinding {
    String type
    Map args
}

/**
 * The steps. Every public method here is a step (Groovy makes no difference between private and
 * public for dynamic calls), so helpers live in JhRunner. Steps closures run with this object as
 * DELEGATE_FIRST delegate.
 */
class JhSteps {
    final JhRunner _rt
    JhSteps(JhRunner rt) { _rt = rt }

    Object getEnv() { _rt.envObj }
    Object getParams() { _rt.paramsView }
    Object getCurrentBuild() { _rt.currentBuildObj }
    Object getScm() { JhScm.INSTANCE }

    def propertyMissing(String name) { _rt.resolveBareName(name, true) }
    def propertyMissing(String name, Object value) { if (!_rt.dryRun) _rt.script.binding.setVariable(name, value) }
    def methodMissing(String name, Object args) { _rt.stepMissing(this, name, args as Object[]) }

    // --- basic ---------------------------------------------------------------------------
    def echo(Object message) { if (!_rt.dryRun) _rt.log(String.valueOf(message)); null }
    def error(Object message) { if (!_rt.dryRun) throw new JhStepFailure(String.valueOf(message)); null }
    def unstable(Object message) { unstable([message: message]) }
    def unstable(Map a) {
        JhArgs.check('unstable', a, ['message'], ['message'])
        if (!_rt.dryRun) _rt.markUnstable("WARNING: ${a.message}")
        null
    }
    def script(Closure body) { _rt.dryRun ? null : _rt.runSteps(body) }
    def isUnix() { true }
    def pwd(Map a = [:]) {
        JhArgs.check('pwd', a, ['tmp'])
        if (_rt.dryRun) return '/dry-run'
        JhArgs.bool(a.tmp) ? _rt.workspaceTmp().absolutePath : _rt.cwd().absolutePath
    }
    def jhSleepStep(Number seconds) { jhSleepStep([time: seconds]) }          // `sleep` (renamed, see JhCallRenamer)
    def jhSleepStep(Map a) {
        JhArgs.check('sleep', a, ['time', 'unit'], ['time'])
        long ms = JhArgs.millis(a.time, a.unit ?: 'SECONDS', 'sleep')
        if (!_rt.dryRun) _rt.sleepMillis(ms)
        null
    }
    def checkout(Object what) {
        if (!(what instanceof JhScm)) throw new JhHarnessError("checkout: only `checkout scm` is supported, got '${what}'")
        if (!_rt.dryRun) { _rt.requireNode('checkout'); _rt.log('checkout scm: the workdir already is the checkout') }
        [GIT_COMMIT: _rt.envGet('GIT_COMMIT'), GIT_BRANCH: _rt.envGet('GIT_BRANCH')]
    }
    def mail(Map a) {
        JhArgs.check('mail', a, ['to', 'cc', 'bcc', 'from', 'replyTo', 'subject', 'body', 'charset', 'mimeType'], ['subject', 'body'])
        if (!_rt.dryRun) _rt.log("mail to=${a.to} subject=${a.subject} (not sent by the harness)")
        null
    }

    // --- sh ------------------------------------------------------------------------------
    def sh(CharSequence script) { sh([script: script]) }
    def sh(Map a) { _rt.runSh(a) }

    // --- block steps ---------------------------------------------------------------------
    def node(Closure body) { node('', body) }
    def node(CharSequence label, Closure body) { _rt.nodeStep(label.toString(), body) }
    def node(Map a, Closure body) {
        JhArgs.check('node', a, ['label'])
        node((a.label ?: '').toString(), body)
    }
    def dir(CharSequence path, Closure body) { _rt.inDir(path.toString(), body) }
    def withEnv(List vars, Closure body) { _rt.withEnvStep(vars, body) }
    def withCredentials(List bindings, Closure body) { _rt.withCredentialsStep(bindings, body) }
    def lock(CharSequence resource, Closure body) { lock([resource: resource.toString()], body) }
    def lock(Map a, Closure body) { JhArgs.check('lock', a, JhRunner.LOCK_ARGS); _rt.withLock(a, body, true) }
    def timeout(Number minutes, Closure body) { timeout([time: minutes], body) }
    def timeout(Map a, Closure body) {
        JhArgs.check('timeout', a, ['time', 'unit', 'activity'], ['time'])
        _rt.withTimeout(JhArgs.millis(a.time, a.unit, 'timeout'), body, true)
    }
    def retry(Number count, Closure body) { retry([count: count], body) }
    def retry(Map a, Closure body) {
        JhArgs.check('retry', a, ['count'], ['count'])
        _rt.withRetry(a.count as int, null, body, true)
    }
    def catchError(Closure body) { catchError([:], body) }
    def catchError(Map a, Closure body) {
        JhArgs.check('catchError', a, ['buildResult', 'stageResult', 'message', 'catchInterruptions'])
        String build = a.containsKey('buildResult') ? a.buildResult?.toString() : 'FAILURE'
        String stage = a.containsKey('stageResult') ? a.stageResult?.toString() : 'SUCCESS'
        if (build) JhResult.check(build, 'catchError buildResult')
        if (stage) JhResult.check(stage, 'catchError stageResult')
        _rt.catchErrorStep(body, build, stage, a.message?.toString(), JhArgs.bool(a.catchInterruptions, true))
    }
    def warnError(CharSequence message, Closure body) { warnError([message: message], body) }
    def warnError(Map a, Closure body) {
        JhArgs.check('warnError', a, ['message', 'catchInterruptions'], ['message'])
        _rt.catchErrorStep(body, 'UNSTABLE', 'UNSTABLE', a.message.toString(), JhArgs.bool(a.catchInterruptions, true))
    }

    // --- credentials bindings (arguments of withCredentials) ------------------------------
    def string(Map a) {
        if (a.containsKey('credentialsId')) {
            JhArgs.check('string binding', a, ['credentialsId', 'variable'], ['credentialsId', 'variable'])
            return new JhBinding(type: 'string', args: a)
        }
        return JhParamDefs.define('string', a)             // a parameter of the input step
    }
    def usernamePassword(Map a) {
        JhArgs.check('usernamePassword binding', a, ['credentialsId', 'usernameVariable', 'passwordVariable'],
                ['credentialsId', 'usernameVariable', 'passwordVariable'])
        new JhBinding(type: 'usernamePassword', args: a)
    }
    def usernameColonPassword(Map a) {
        JhArgs.check('usernameColonPassword binding', a, ['credentialsId', 'variable'], ['credentialsId', 'variable'])
        new JhBinding(type: 'usernameColonPassword', args: a)
    }
    def file(Map a) {
        JhArgs.check('file binding', a, ['credentialsId', 'variable'], ['credentialsId', 'variable'])
        new JhBinding(type: 'file', args: a)
    }
    def booleanParam(Map a) { JhParamDefs.define('booleanParam', a) }
    def choice(Map a) { JhParamDefs.define('choice', a) }
    def text(Map a) { JhParamDefs.define('text', a) }
    def password(Map a) { JhParamDefs.define('password', a) }

    // --- files ---------------------------------------------------------------------------
    def writeFile(Map a) {
        JhArgs.check('writeFile', a, ['file', 'text', 'encoding'], ['file', 'text'])
        _rt.writeFileStep(a.file.toString(), a.text.toString(), a.encoding?.toString())
    }
    def readFile(CharSequence path) { readFile([file: path]) }
    def readFile(Map a) {
        JhArgs.check('readFile', a, ['file', 'encoding'], ['file'])
        _rt.readFileStep(a.file.toString(), a.encoding?.toString())
    }
    def fileExists(CharSequence path) { fileExists([file: path]) }
    def fileExists(Map a) {
        JhArgs.check('fileExists', a, ['file'], ['file'])
        if (_rt.dryRun) return false
        _rt.requireNode('fileExists')
        _rt.resolvePath(a.file.toString()).exists()
    }
    def deleteDir() { _rt.deleteDirStep() }
    def cleanWs(Map a = [:]) {
        JhArgs.check('cleanWs', a, ['deleteDirs', 'disableDeferredWipeout', 'notFailBuild', 'cleanWhenAborted',
                                    'cleanWhenFailure', 'cleanWhenNotBuilt', 'cleanWhenSuccess', 'cleanWhenUnstable',
                                    'cleanupMatrixParent'])
        _rt.cleanWsStep(a)
    }
    def stash(CharSequence name) { stash([name: name]) }
    def stash(Map a) {
        JhArgs.check('stash', a, ['name', 'includes', 'excludes', 'allowEmpty', 'useDefaultExcludes'], ['name'])
        _rt.stashStep(a)
    }
    def unstash(CharSequence name) { unstash([name: name]) }
    def unstash(Map a) {
        JhArgs.check('unstash', a, ['name'], ['name'])
        _rt.unstashStep(a.name.toString())
    }
    def archiveArtifacts(CharSequence artifacts) { archiveArtifacts([artifacts: artifacts]) }
    def archiveArtifacts(Map a) {
        JhArgs.check('archiveArtifacts', a, ['artifacts', 'excludes', 'allowEmptyArchive', 'fingerprint', 'onlyIfSuccessful',
                                             'defaultExcludes', 'caseSensitive', 'followSymlinks'], ['artifacts'])
        _rt.archiveStep(a)
    }
    def junit(CharSequence testResults) { junit([testResults: testResults]) }
    def junit(Map a) {
        JhArgs.check('junit', a, ['testResults', 'allowEmptyResults', 'keepLongStdio', 'healthScaleFactor',
                                  'skipPublishingChecks', 'skipMarkingBuildUnstable', 'keepProperties', 'checksName',
                                  'skipOldReports', 'stdioRetention', 'keepTestNames'], ['testResults'])
        _rt.junitStep(a)
    }

    // --- input ---------------------------------------------------------------------------
    def input(CharSequence message) { input([message: message]) }
    def input(Map a) {
        JhArgs.check('input', a, ['message', 'ok', 'submitter', 'submitterParameter', 'id', 'parameters'], ['message'])
        List<Map> params = (a.parameters ?: []) as List<Map>
        params.each { if (!(it instanceof Map) || !it.type) throw new JhHarnessError("input: parameters must be parameter definitions") }
        if (_rt.dryRun) return null
        JhInput inp = new JhInput(message: a.message.toString(), ok: a.ok?.toString(), submitter: a.submitter?.toString(),
                submitterParameter: a.submitterParameter?.toString(), parameters: params)
        Map<String, Object> values = _rt.askInput(inp)
        if (values.isEmpty()) return null
        return values.size() == 1 ? values.values().first() : values
    }
}

/** Base class of the compiled Jenkinsfile (set through CompilerConfiguration.scriptBaseClass). */
abstract class JhScript extends Script {
    def pipeline(Closure body) { JhRunner.current.definePipeline(body); null }
    def methodMissing(String name, Object args) { JhRunner.current.scriptMethodMissing(name, args as Object[]) }
    def propertyMissing(String name) { JhRunner.current.resolveBareName(name, false) }
    Object getEnv() { JhRunner.current.envObj }
    Object getParams() { JhRunner.current.paramsView }
    Object getCurrentBuild() { JhRunner.current.currentBuildObj }
    Object getScm() { JhScm.INSTANCE }
}

// ============================================================================================
// Process execution
// ============================================================================================

@CompileStatic
class JhExec {
    static class Outcome {
        int exitCode = -1
        boolean timedOut
        String stdout = ''
    }

    /** Run cmd; stream merged output (or only stderr, when capturing stdout) line by line to logLine. */
    static Outcome run(List<String> cmd, File dir, Map<String, String> env, boolean captureStdout, long timeoutMillis,
                       Closure logLine) {
        ProcessBuilder pb = new ProcessBuilder(cmd)
        pb.directory(dir)
        Map<String, String> penv = pb.environment()
        penv.clear()
        penv.putAll(env)
        pb.redirectErrorStream(!captureStdout)
        pb.redirectInput(ProcessBuilder.Redirect.from(new File('/dev/null')))
        Process p = pb.start()
        StringBuilder captured = new StringBuilder()
        Thread outPump = pump(p.inputStream, captureStdout ? captured : null, logLine)
        Thread errPump = captureStdout ? pump(p.errorStream, null, logLine) : null
        Outcome o = new Outcome()
        boolean finished = p.waitFor(Math.max(timeoutMillis, 1L), TimeUnit.MILLISECONDS)
        if (!finished) {
            o.timedOut = true
            Iterator<ProcessHandle> kids = p.toHandle().descendants().iterator()
            while (kids.hasNext()) kids.next().destroyForcibly()
            p.destroyForcibly()
            p.waitFor()
        }
        // A background child that keeps the pipe open must not hang the harness.
        outPump.join(2000)
        if (errPump != null) errPump.join(2000)
        o.exitCode = p.exitValue()
        synchronized (captured) { o.stdout = captured.toString() }
        return o
    }

    static Thread pump(InputStream input, StringBuilder sink, Closure logLine) {
        Thread t = new Thread(new Runnable() {
            void run() {
                Reader r = new InputStreamReader(input, 'UTF-8')
                try {
                    if (sink != null) {
                        char[] buf = new char[8192]
                        int n
                        while ((n = r.read(buf)) >= 0) {
                            synchronized (sink) { sink.append(buf, 0, n) }
                        }
                    } else {
                        BufferedReader br = new BufferedReader(r)
                        String line
                        while ((line = br.readLine()) != null) logLine.call(line)
                    }
                } catch (IOException ignored) {
                    // the process was killed (timeout) and its pipe closed under us
                }
            }
        })
        t.daemon = true
        t.start()
        return t
    }
}

// ============================================================================================
// Configuration (command line)
// ============================================================================================

class JhConfig {
    List<String> jenkinsfiles = []
    File workdir
    String branch = 'main'
    boolean changeRequest
    String changeId = '1'
    String changeTarget = 'main'
    String tag
    String cause = 'push'
    Boolean approve
    String approver   // the user who answers inputs, checked against `submitter`; unset: an allowed user
    Map<String, String> credentials = [:]
    Map<String, String> params = [:]
    Map<String, String> env = [:]
    String buildNumber = '1'
    File stashDir
    File agentWorkspaces     // set: every agent allocation gets its own workspace under it (see agentWorkspace)
    File lockDir             // set: `lock` resources are shared with every build run with the same DIR
    boolean parseOnly
    String previousResult
    String jobName = 'mlgen'

    static final String USAGE = '''\
usage: groovy harness.groovy --jenkinsfile PATH --workdir DIR [options]
       groovy harness.groovy --parse-only --jenkinsfile PATH [--jenkinsfile PATH ...]
  --branch NAME            branch being built (default main)
  --change-request         build a pull request: BRANCH_NAME=PR-<id>, CHANGE_BRANCH=<branch>
  --change-id N            pull request number (default 1)
  --change-target NAME     pull request target branch (default main)
  --tag NAME               build a tag: TAG_NAME=<tag>, BRANCH_NAME=<tag>
  --cause timer|push|manual  what triggered the build (for `when { triggeredBy }`), default push
  --approve | --reject     answer to every input (an input without either is a harness error)
  --approver USER          the user who answers; an input whose `submitter` does not list USER cannot
                           be approved by them: it ends ABORTED (unset: a user every input allows)
  --credential ID=VALUE    a credential; usernamePassword takes VALUE user:password
  --param K=V              build parameter value (must be declared in parameters {})
  --env K=V                extra environment variable of the build
  --build-number N         BUILD_NUMBER (default 1)
  --previous-result R      result of the previous build (for changed/fixed/regression); default: none
  --job-name NAME          multibranch job name (JOB_NAME=<name>/<branch>), default mlgen
  --stash-dir DIR          where stashes and archived artifacts go (default: a new temp dir)
  --agent-workspaces DIR   each agent allocation gets its own workspace, DIR/<branch>/<stage>, as on
                           another agent: files travel between stages only by stash/unstash
  --lock-dir DIR           `lock` resources live in DIR, shared by every build given the same DIR (as
                           Lockable Resources shares them across builds): a build waits for the lock;
                           with disableConcurrentBuilds(), a build of the same JOB_NAME waits to start
  --parse-only             only parse and check the Jenkinsfile(s)
exit: 0 SUCCESS, 1 FAILURE, 2 UNSTABLE, 3 ABORTED, 4 harness error'''

    static JhConfig parse(String[] argv) {
        JhConfig c = new JhConfig()
        List<String> args = argv as List
        int i = 0
        Closure<String> value = { String opt ->
            if (i + 1 >= args.size()) throw new JhHarnessError("${opt} needs a value\n${USAGE}")
            i += 1
            return args[i]
        }
        Closure<List<String>> pair = { String opt ->
            String v = value(opt)
            int eq = v.indexOf('=')
            if (eq <= 0) throw new JhHarnessError("${opt} wants KEY=VALUE, got '${v}'")
            return [v.substring(0, eq), v.substring(eq + 1)]
        }
        for (; i < args.size(); i++) {
            String a = args[i]
            if (a.startsWith('--') && a.contains('=') && !(a in ['--change-request', '--approve', '--reject', '--parse-only'])) {
                // --opt=value form
                int eq = a.indexOf('=')
                args = args[0..<i] + [a.substring(0, eq), a.substring(eq + 1)] + (i + 1 < args.size() ? args[(i + 1)..-1] : [])
                a = args[i]
            }
            switch (a) {
                case '--jenkinsfile': c.jenkinsfiles << value(a); break
                case '--workdir': c.workdir = new File(value(a)); break
                case '--branch': c.branch = value(a); break
                case '--change-request': c.changeRequest = true; break
                case '--change-id': c.changeId = value(a); break
                case '--change-target': c.changeTarget = value(a); break
                case '--tag': c.tag = value(a); break
                case '--cause':
                    c.cause = value(a)
                    if (!(c.cause in ['timer', 'push', 'manual'])) throw new JhHarnessError("--cause must be timer, push or manual")
                    break
                case '--approve': c.approve = true; break
                case '--approver': c.approver = value(a); break
                case '--reject': c.approve = false; break
                case '--credential': List<String> p = pair(a); c.credentials[p[0]] = p[1]; break
                case '--param': List<String> p = pair(a); c.params[p[0]] = p[1]; break
                case '--env': List<String> p = pair(a); c.env[p[0]] = p[1]; break
                case '--build-number':
                    c.buildNumber = value(a)
                    if (!c.buildNumber.isInteger()) throw new JhHarnessError('--build-number must be an integer')
                    break
                case '--previous-result': c.previousResult = JhResult.check(value(a), '--previous-result'); break
                case '--job-name': c.jobName = value(a); break
                case '--stash-dir': c.stashDir = new File(value(a)); break
                case '--agent-workspaces': c.agentWorkspaces = new File(value(a)); break
                case '--lock-dir': c.lockDir = new File(value(a)); break
                case '--parse-only': c.parseOnly = true; break
                case '--help': case '-h': println USAGE; System.exit(0); break
                default: throw new JhHarnessError("unknown option '${a}'\n${USAGE}")
            }
        }
        if (!c.jenkinsfiles) throw new JhHarnessError("--jenkinsfile is required\n${USAGE}")
        if (!c.parseOnly) {
            if (c.jenkinsfiles.size() > 1) throw new JhHarnessError('several --jenkinsfile are only allowed with --parse-only')
            if (c.workdir == null) throw new JhHarnessError("--workdir is required\n${USAGE}")
            if (!c.workdir.isDirectory()) throw new JhHarnessError("--workdir ${c.workdir} is not a directory")
        }
        return c
    }
}

// ============================================================================================
// The runner: evaluates the Jenkinsfile and executes the model
// ============================================================================================

class JhStageRun {
    JhStage stage
    JhCtx ctx
    String result            // null = SUCCESS so far
    String childResult       // worst result of reported children
    int retriesLeft          // >0 while a stage-level retry option can still run another attempt
    String skipReason
    boolean errorMarked
    Map<String, String> post = [:]  // post condition that ran -> passed | failed (reported with the stage)
    String status() { JhResult.STATUS[JhResult.worst(result, childResult) ?: 'SUCCESS'] }
}

/** Where a stage sits: for the report (parent, matrix cell) and the log prefix. */
class JhCtx {
    String parent
    Map<String, String> matrix
    JhCtx child(String parentName) { new JhCtx(parent: parentName, matrix: matrix) }
    JhCtx cell(Map<String, String> m) { new JhCtx(parent: parent, matrix: m) }
}

class JhRunner {
    static JhRunner current          // the compiled Jenkinsfile reaches the runner through this
    static final List<String> LOCK_ARGS = ['resource', 'label', 'quantity', 'variable', 'inversePrecedence', 'skipIfLocked', 'extra']

    final JhConfig cfg
    final File jenkinsfile
    final PrintStream out = System.out
    final long startMillis = System.currentTimeMillis()
    Script script
    JhPipeline model
    boolean dryRun

    // build state
    String buildResult                        // like Run.getResult(): null until something sets it
    Throwable firstError
    final List<Map> reports = []
    final List<String> warnings = []
    final List<String> artifacts = []
    final Map<String, Integer> tests = [total: 0, failed: 0, skipped: 0]
    final Map<String, String> globalEnv = new LinkedHashMap<String, String>()
    final List<Map<String, String>> overlays = []
    final List<File> cwdStack = []
    final List<JhStageRun> stageStack = []
    final List<Long> deadlines = []
    final Set<String> locksHeld = new LinkedHashSet<String>()
    final Set<String> secrets = new LinkedHashSet<String>()
    final Set<Throwable> loggedErrors = Collections.newSetFromMap(new IdentityHashMap<Throwable, Boolean>())
    final Map<String, Object> paramValues = new LinkedHashMap<String, Object>()
    int nodeDepth
    int stepsDepth                            // >0 while a steps/post/script closure runs
    int tmpCounter
    File stashRoot, archiveRoot, tmpRoot
    JhEnvObject envObj
    Map paramsView
    JhCurrentBuild currentBuildObj
    JhSteps steps

    JhRunner(JhConfig cfg, File jenkinsfile) {
        this.cfg = cfg
        this.jenkinsfile = jenkinsfile
        envObj = new JhEnvObject(this)
        paramsView = Collections.unmodifiableMap(paramValues)
        currentBuildObj = new JhCurrentBuild(this)
        steps = new JhSteps(this)
    }

    static MissingPropertyException noSuchProperty(String name) {
        new MissingPropertyException("No such property: ${name} for class: WorkflowScript", name, JhScript)
    }

    // ---------------------------------------------------------------------------------------
    // Loading
    // ---------------------------------------------------------------------------------------

    /** Compile and run the Jenkinsfile; `pipeline { }` inside it calls definePipeline. */
    void load() {
        if (!jenkinsfile.isFile()) throw new JhHarnessError("no such Jenkinsfile: ${jenkinsfile}")
        CompilerConfiguration cc = new CompilerConfiguration()
        cc.scriptBaseClass = JhScript.name
        cc.addCompilationCustomizers(new JhCallRenamer())
        GroovyShell shell = new GroovyShell(JhRunner.classLoader, new Binding(), cc)
        try {
            script = shell.parse(jenkinsfile.getText('UTF-8'), 'WorkflowScript')
        } catch (MultipleCompilationErrorsException e) {
            throw new JhHarnessError("Groovy compilation of ${jenkinsfile} failed:\n${e.message}")
        }
        current = this
        script.run()
        if (model == null) throw new JhHarnessError("${jenkinsfile} has no pipeline { } block")
    }

    void definePipeline(Closure body) {
        if (model != null) throw new JhHarnessError('pipeline { } appears more than once')
        model = JhPipelineBlock._parse(body)
    }

    /** Top-level or helper-function calls: steps while steps run, else an unknown method. */
    Object scriptMethodMissing(String name, Object[] args) {
        String shown = JhArgs.display(name)
        if (stepsDepth == 0 && (shown == 'node' || shown == 'stage')) {
            throw new JhHarnessError("'${shown}' outside pipeline { }: scripted pipelines are not supported by the harness")
        }
        if (steps.metaClass.respondsTo(steps, name, args) || steps.metaClass.methods.any { it.name == name }) {
            return steps.invokeMethod(name, args)
        }
        throw new JhHarnessError("unknown step '${shown}' (${JhArgs.describe(args)})")
    }

    /** Called when a steps closure calls something that JhSteps lacks: a script function, or an unknown step. */
    Object stepMissing(JhSteps from, String name, Object[] args) {
        if (script.metaClass.respondsTo(script, name, args)) return script.invokeMethod(name, args)
        if (script.binding.hasVariable(name) && script.binding.getVariable(name) instanceof Closure) {
            return ((Closure) script.binding.getVariable(name)).call(args)
        }
        String shown = JhArgs.display(name)
        if (from.metaClass.methods.any { it.name == name }) {
            throw new JhHarnessError("step '${shown}': unsupported arguments (${JhArgs.describe(args)})")
        }
        throw new JhHarnessError("unknown step '${shown}' (${JhArgs.describe(args)})")
    }

    /** A bare name: script binding, then env variables (as Jenkins' CpsScript does), else MissingPropertyException. */
    Object resolveBareName(String name, boolean checkBinding) {
        if (checkBinding && script != null && script.binding.hasVariable(name)) return script.binding.getVariable(name)
        String v = envGet(name)
        if (v != null) return v
        if (dryRun) return '${' + name + '}'        // the parse check must not depend on runtime values
        throw noSuchProperty(name)
    }

    // ---------------------------------------------------------------------------------------
    // Environment
    // ---------------------------------------------------------------------------------------

    void initBuildEnv() {
        globalEnv.putAll(System.getenv())
        File ws = cfg.workdir?.absoluteFile ?: new File('.').absoluteFile
        String branchName = cfg.tag ?: (cfg.changeRequest ? "PR-${cfg.changeId}" : cfg.branch)
        String jobBase = branchName
        String job = "${cfg.jobName}/${jobBase}"
        String url = "http://jenkins.invalid/job/${cfg.jobName}/job/${jobBase}/"
        Map<String, String> vars = [
                BRANCH_NAME       : branchName,
                BUILD_NUMBER      : cfg.buildNumber,
                BUILD_ID          : cfg.buildNumber,
                BUILD_DISPLAY_NAME: "#${cfg.buildNumber}".toString(),
                JOB_NAME          : job,
                JOB_BASE_NAME     : jobBase,
                BUILD_TAG         : "jenkins-${job.replace('/', '-')}-${cfg.buildNumber}".toString(),
                BUILD_URL         : "${url}${cfg.buildNumber}/".toString(),
                JOB_URL           : url,
                JENKINS_URL       : 'http://jenkins.invalid/',
                WORKSPACE         : ws.path,
                WORKSPACE_TMP     : ws.path + '@tmp',
                EXECUTOR_NUMBER   : '0',
                NODE_NAME         : 'built-in',
                GIT_BRANCH        : branchName,
        ]
        if (cfg.changeRequest) {
            vars.CHANGE_ID = cfg.changeId
            vars.CHANGE_TARGET = cfg.changeTarget
            vars.CHANGE_BRANCH = cfg.branch
            vars.CHANGE_URL = "http://scm.invalid/pulls/${cfg.changeId}".toString()
        }
        if (cfg.tag) vars.TAG_NAME = cfg.tag
        String commit = gitCommit(ws)
        if (commit) vars.GIT_COMMIT = commit
        globalEnv.putAll(vars)
        globalEnv.putAll(cfg.env)
    }

    static String gitCommit(File ws) {
        if (!new File(ws, '.git').exists()) return null
        try {
            Process p = new ProcessBuilder('git', 'rev-parse', 'HEAD').directory(ws).redirectErrorStream(true).start()
            String text = p.inputStream.getText('UTF-8').trim()
            return p.waitFor() == 0 && text ==~ /[0-9a-f]{40}/ ? text : null
        } catch (IOException ignored) {
            return null
        }
    }

    /** Parameters: defaults from parameters { }, overridden by --param; they are env variables too. */
    void initParams() {
        cfg.params.keySet().each { k ->
            if (!model.parameters.any { it.name == k }) throw new JhHarnessError("--param ${k}: no such parameter in parameters { }")
        }
        model.parameters.each { Map p ->
            Object v = cfg.params.containsKey(p.name) ? JhParamDefs.coerce(p, cfg.params[p.name]) : p.defaultValue
            paramValues[p.name] = v
            globalEnv[p.name] = String.valueOf(v)
        }
    }

    String envGet(String name) {
        for (int i = overlays.size() - 1; i >= 0; i--) {
            if (overlays[i].containsKey(name)) return overlays[i][name]
        }
        return globalEnv[name]
    }

    void envSetGlobal(String name, Object value) {
        if (dryRun) return
        globalEnv[name] = value == null ? null : value.toString()
    }

    Map<String, String> processEnv() {
        Map<String, String> m = new LinkedHashMap<String, String>(globalEnv)
        overlays.each { m.putAll(it) }
        return m.findAll { k, v -> v != null } as Map<String, String>
    }

    Object withOverlay(Map<String, String> vars, Closure body) {
        if (!vars) return body.call()
        overlays.add(vars)
        try {
            return body.call()
        } finally {
            overlays.remove(overlays.size() - 1)
        }
    }

    /** Evaluate an environment { } block into a new overlay, then run body inside it. */
    Object withEnvironmentBlock(Closure envClosure, String where, Closure body) {
        if (envClosure == null) return body.call()
        Map<String, String> live = new LinkedHashMap<String, String>()
        overlays.add(live)
        try {
            JhBlock._run(envClosure, new JhEnvironmentBlock(_rt: this, _into: live, _where: "environment of ${where}"))
            return body.call()
        } finally {
            overlays.remove(overlays.size() - 1)
        }
    }

    String credential(String id) {
        if (dryRun) return 'dry-run-secret'
        if (!cfg.credentials.containsKey(id)) throw new JhStepFailure("Could not find credentials entry with ID '${id}'")
        String v = cfg.credentials[id]
        if (v) secrets << v
        return v
    }

    /** K = credentials('id') in environment {}: K, plus K_USR/K_PSW when the value is user:password. */
    void bindEnvironmentCredential(Map<String, String> into, String name, String id) {
        String v = credential(id)
        into[name] = v
        int colon = v.indexOf(':')
        if (colon > 0) {
            into[name + '_USR'] = v.substring(0, colon)
            into[name + '_PSW'] = v.substring(colon + 1)
            if (v.substring(colon + 1)) secrets << v.substring(colon + 1)
        }
    }

    // ---------------------------------------------------------------------------------------
    // Logging
    // ---------------------------------------------------------------------------------------

    String mask(String s) {
        String r = s
        secrets.sort { -it.length() }.each { if (it) r = r.replace(it, '****') }
        return r
    }

    String prefix() {
        List<JhStageRun> shown = stageStack.findAll { it.stage.reportable }
        if (!shown) return stageStack ? '[matrix] ' : '[pipeline] '
        JhStageRun top = stageStack[-1]
        String cell = top.ctx.matrix ? ' {' + top.ctx.matrix.collect { k, v -> "${k}=${v}" }.join(', ') + '}' : ''
        return '[' + shown*.stage*.name.join(' / ') + cell + '] '
    }

    synchronized void log(String msg) {
        String p = prefix()
        msg.split('\n', -1).each { out.println(mask(p + it)) }
        out.flush()
    }

    void logError(Throwable t) {
        if (!loggedErrors.add(t)) return
        if (t instanceof JhStepFailure || t instanceof JhInterrupted) {
            log("ERROR: ${t.message}")
            return
        }
        log("ERROR: ${t.getClass().name}: ${t.message}")
        // Only the Jenkinsfile's own frames: they carry its line numbers.
        t.stackTrace.findAll { it.fileName == 'WorkflowScript' }.take(5).each { log("    at WorkflowScript:${it.lineNumber}") }
    }

    // ---------------------------------------------------------------------------------------
    // Reports
    // ---------------------------------------------------------------------------------------

    void report(JhStage s, JhCtx ctx, String status, String reason, Map<String, String> post = [:]) {
        if (!s.reportable) return
        Map r = [stage: s.name, status: status]
        if (ctx.matrix) r.matrix = ctx.matrix
        if (ctx.parent) r.parent = ctx.parent
        if (reason) r.reason = reason
        if (post) r.post = post
        reports << r
        out.println('MLGEN-STAGE ' + JsonOutput.toJson(JhArgs.json(r)))
        out.flush()
    }

    /** Report a stage that does not run, and everything inside it, as skipped. */
    void reportSkippedTree(JhStage s, JhCtx ctx, String reason) {
        JhCtx inner = ctx.child(s.reportable ? s.name : ctx.parent)
        s.stages?.each { reportSkippedTree(it, inner, reason) }
        s.parallel?.each { reportSkippedTree(it, inner, reason) }
        if (s.matrix) {
            s.matrix.cells().each { Map<String, String> cell ->
                s.matrix.stages.each { reportSkippedTree(it, inner.cell(cell), reason) }
            }
        }
        if (s.reportable) log("Stage '${s.name}' skipped due to ${reason}")
        report(s, ctx, 'skipped', reason)
    }

    // ---------------------------------------------------------------------------------------
    // Execution
    // ---------------------------------------------------------------------------------------

    String execute() {
        java.nio.channels.FileLock queued = waitInQueue()
        try {
            return executeBuild()
        } finally {
            if (queued != null) { queued.release(); queued.channel().close() }
        }
    }

    /**
     * `disableConcurrentBuilds()`: a build of a job (in multibranch, of one branch: JOB_NAME) stays
     * in the queue while another build of the same job runs, and starts when it has finished; builds
     * of other jobs and branches run at once. With --lock-dir, concurrently started harness runs
     * share the rule through an OS file lock per JOB_NAME; without it, a run is the only build.
     */
    java.nio.channels.FileLock waitInQueue() {
        JhOption option = model.options.find { it.name == 'disableConcurrentBuilds' }
        if (option == null || cfg.lockDir == null) return null
        if (option.args?.abortPrevious) {
            throw new JhHarnessError('disableConcurrentBuilds(abortPrevious: true) aborts the running build: not modelled with --lock-dir')
        }
        String job = envGet('JOB_NAME')
        cfg.lockDir.mkdirs()
        String file = 'build-queue.' + job.replaceAll(/[^A-Za-z0-9_.-]/, '_') + '.' + Integer.toHexString(job.hashCode()) + '.lock'
        java.nio.channels.FileChannel channel = new RandomAccessFile(new File(cfg.lockDir, file), 'rw').channel
        java.nio.channels.FileLock held = channel.tryLock()
        if (held == null) {
            log("Build #${cfg.buildNumber} waits in the queue: another build of ${job} is in progress (disableConcurrentBuilds)")
            held = channel.lock()
        }
        log("Build #${cfg.buildNumber} of ${job} started")
        return held
    }

    String executeBuild() {
        stashRoot = new File(cfg.stashDir ?: Files.createTempDirectory('mlgen-jenkins-').toFile(), 'stashes')
        archiveRoot = new File(stashRoot.parentFile, 'archive')
        [stashRoot, archiveRoot].each { it.deleteDir(); it.mkdirs() }        // stashes live for one build
        tmpRoot = Files.createTempDirectory('mlgen-jenkins-tmp-').toFile()
        cwdStack << cfg.workdir.absoluteFile
        log("Jenkinsfile ${jenkinsfile}, workdir ${cfg.workdir.absolutePath}, branch ${envGet('BRANCH_NAME')}, " +
                "stashes in ${stashRoot.parentFile}")
        model.triggers.each { log("trigger ${it.type}: ${it.spec ?: it.upstreamProjects} (recorded)") }
        JhCtx top = new JhCtx()
        boolean stagesStarted = false
        try {
            inAgent(model.agent) {
                withEnvironmentBlock(model.environment, 'pipeline') {
                    stagesStarted = true
                    try {
                        inOptions(model.options, null) {
                            Throwable err = runStageList(model.stages, top, true)
                            if (err != null) throw err
                        }
                    } catch (JhHarnessError e) {
                        throw e
                    } catch (Throwable t) {
                        recordBuildError(t)
                    }
                    runPost(model.post, null)
                }
            }
        } catch (JhHarnessError e) {
            throw e
        } catch (Throwable t) {
            // Failed before the stages (pipeline environment, e.g. a missing credential).
            recordBuildError(t)
            if (!stagesStarted) {
                model.stages.each { reportSkippedTree(it, top, 'earlier failure') }
                runPost(model.post, null)
            }
        } finally {
            tmpRoot.deleteDir()
            if (cfg.stashDir == null) stashRoot.parentFile.deleteDir()     // our own temp dir; pass --stash-dir to keep archives
        }
        return buildResult ?: 'SUCCESS'
    }

    void recordBuildError(Throwable t) {
        logError(t)
        buildResult = JhResult.worst(buildResult, t instanceof JhInterrupted ? ((JhInterrupted) t).result : 'FAILURE')
        if (firstError == null) firstError = t
    }

    boolean hasOption(String name) { model.options.any { it.name == name } }

    /** Run stages in order. After an error the rest are skipped; returns the first error. */
    Throwable runStageList(List<JhStage> stages, JhCtx ctx, boolean topLevel) {
        Throwable err = null
        for (JhStage s : stages) {
            if (err != null) { reportSkippedTree(s, ctx, 'earlier failure'); continue }
            if (topLevel && buildResult == 'UNSTABLE' && hasOption('skipStagesAfterUnstable')) {
                reportSkippedTree(s, ctx, 'earlier unstable stage'); continue
            }
            try {
                runStage(s, ctx)
            } catch (JhHarnessError e) {
                throw e
            } catch (Throwable t) {
                err = t
            }
        }
        return err
    }

    boolean plainWhen(JhWhen w) { w != null && !w.beforeAgent && !w.beforeInput && !w.beforeOptions }

    /**
     * One stage, in Jenkins' order: [when beforeOptions] options( [when beforeInput] input
     * environment [when beforeAgent] agent( [when] content post ) ).
     */
    void runStage(JhStage s, JhCtx ctx) {
        JhStageRun run = new JhStageRun(stage: s, ctx: ctx)
        JhStageRun parent = stageStack ? stageStack[-1] : null
        stageStack << run
        Throwable err = null
        try {
            withOverlay([STAGE_NAME: s.name]) {
                if (s.reportable) log("Stage '${s.name}'")
                JhWhen w = s.when
                if (w?.beforeOptions && !evalWhen(w)) { run.skipReason = 'when conditional'; return }
                inOptions(s.options, run) {
                    if (w?.beforeInput && !evalWhen(w)) { run.skipReason = 'when conditional'; return }
                    Map<String, String> inputEnv = s.input ? askInput(s.input).collectEntries { k, v -> [(k): String.valueOf(v)] } : [:]
                    withOverlay(inputEnv) {
                        withEnvironmentBlock(s.environment, "stage '${s.name}'") {
                            if (w?.beforeAgent && !evalWhen(w)) { run.skipReason = 'when conditional'; return }
                            inAgent(s.agent) {
                                if (plainWhen(w) && !evalWhen(w)) { run.skipReason = 'when conditional'; return }
                                runStageBodyAndPost(s, run, ctx)
                            }
                        }
                    }
                }
            }
        } catch (JhHarnessError e) {
            throw e
        } catch (Throwable t) {
            err = t
            markStageError(run, t)
        } finally {
            stageStack.remove(stageStack.size() - 1)
        }
        if (run.skipReason) {
            reportSkippedTree(s, ctx, run.skipReason)
            return
        }
        report(s, ctx, run.status(), err instanceof JhInterrupted ? err.message : null, run.post)
        if (parent != null) parent.childResult = JhResult.worst(parent.childResult, JhResult.worst(run.result, run.childResult))
        if (err != null) throw err
    }

    void runStageBodyAndPost(JhStage s, JhStageRun run, JhCtx ctx) {
        Throwable bodyErr = null
        try {
            runContent(s, ctx)
        } catch (JhHarnessError e) {
            throw e
        } catch (Throwable t) {
            bodyErr = t
        }
        // With a stage-level retry left, the next attempt runs instead of post.
        if (bodyErr != null && run.retriesLeft > 0) throw bodyErr
        if (bodyErr != null) markStageError(run, bodyErr)
        Throwable postErr = runPost(s.post, run)
        if (bodyErr != null) throw bodyErr
        if (postErr != null) throw postErr
    }

    void markStageError(JhStageRun run, Throwable t) {
        if (run.errorMarked) return
        run.errorMarked = true
        logError(t)
        String r = t instanceof JhInterrupted ? ((JhInterrupted) t).result : 'FAILURE'
        run.result = JhResult.worst(run.result, r)
        buildResult = JhResult.worst(buildResult, r)         // as ModelInterpreter does before stage post
    }

    void runContent(JhStage s, JhCtx ctx) {
        JhCtx inner = ctx.child(s.reportable ? s.name : ctx.parent)
        if (s.steps != null) {
            runSteps(s.steps)
        } else if (s.stages != null) {
            Throwable e = runStageList(s.stages, inner, false)
            if (e != null) throw e
        } else if (s.parallel != null) {
            log("parallel: ${s.parallel*.name.join(', ')} (run one after the other)")
            runBranches(s.parallel.collect { JhStage c -> [stage: c, ctx: inner] }, s.failFast)
        } else if (s.matrix != null) {
            JhMatrix m = s.matrix
            List branches = m.cells().collect { Map<String, String> cell ->
                String label = 'Matrix - ' + cell.collect { k, v -> "${k} = '${v}'" }.join(', ')
                JhStage cellStage = new JhStage(name: label, agent: m.agent, environment: m.environment, options: m.options,
                        when: m.when, input: m.input, stages: m.stages, post: m.post, reportable: false)
                [stage: cellStage, ctx: inner.cell(cell), env: cell]
            }
            runBranches(branches, s.failFast)
        }
    }

    /** Parallel branches and matrix cells, one after the other. failFast skips the ones not started yet. */
    void runBranches(List<Map> branches, boolean failFast) {
        boolean fast = failFast || hasOption('parallelsAlwaysFailFast')
        Throwable first = null
        branches.each { Map b ->
            JhStage st = (JhStage) b.stage
            JhCtx c = (JhCtx) b.ctx
            if (first != null && fast) { reportSkippedTree(st, c, 'failFast'); return }
            try {
                withOverlay((Map<String, String>) (b.env ?: [:])) { runStage(st, c) }
            } catch (JhHarnessError e) {
                throw e
            } catch (Throwable t) {
                if (first == null) first = t
            }
        }
        if (first != null) throw first
    }

    /** Wrapper options (timeout, retry, lock) in the order they were declared; the rest are only recorded. */
    Object inOptions(List<JhOption> opts, JhStageRun run, Closure body) {
        List<JhOption> wrappers = opts.findAll { it.name in ['timeout', 'retry', 'lock'] }
        return wrap(wrappers, 0, run, body)
    }

    Object wrap(List<JhOption> wrappers, int i, JhStageRun run, Closure body) {
        if (i >= wrappers.size()) return body.call()
        JhOption o = wrappers[i]
        Closure inner = { -> wrap(wrappers, i + 1, run, body) }
        switch (o.name) {
            case 'timeout': return withTimeout(JhArgs.millis(o.args.time, o.args.unit, 'option timeout'), inner, false)
            case 'retry':
                if (run == null) {
                    // Pipeline-level retry runs all stages again: forget the failed attempt's reports.
                    return withRetry(o.args.count as int, null, { ->
                        reports.clear(); firstError = null; buildResult = null
                        inner.call()
                    }, false)
                }
                return withRetry(o.args.count as int, run, inner, false)
            case 'lock': return withLock(o.args, inner, false)
        }
        throw new IllegalStateException(o.name)
    }

    void inAgent(JhAgent a, Closure body) {
        if (a == null || a.type == 'none') {    // `agent none` allocates nothing; an outer agent still applies
            body.call()
            return
        }
        if (a.type == 'docker') {
            throw new JhHarnessError("agent docker (image '${a.image}'): the harness checks docker agents but cannot run them")
        }
        String node = a.type == 'label' ? a.label : 'built-in'
        File ws = agentWorkspace()
        log("Running on ${node} (agent ${a.type}${a.label ? " '${a.label}'" : ''}) in ${(ws ?: cfg.workdir).absolutePath}")
        nodeDepth++
        if (ws != null) cwdStack << ws
        try {
            withOverlay([NODE_NAME: node, NODE_LABELS: node] + workspaceVars(ws)) { body.call() }
        } finally {
            if (ws != null) cwdStack.remove(cwdStack.size() - 1)
            nodeDepth--
        }
    }

    /**
     * With --agent-workspaces, each agent allocation runs where another agent would: in a workspace
     * of its own, `<dir>/<BRANCH_NAME>/<stage path>`, into which the commit's tracked files are
     * checked out (Jenkins' implicit `checkout scm`; untracked files from earlier builds of the same
     * branch stay, as they do in a Jenkins workspace). Files reach another stage only by stash/unstash.
     * Without it, every agent runs in --workdir (one shared workspace).
     */
    File agentWorkspace() {
        if (cfg.agentWorkspaces == null) return null
        String stage = prefix().trim().replaceAll(/^\[|\]$/, '')
        File ws = new File(new File(cfg.agentWorkspaces, safeName(envGet('BRANCH_NAME'))), safeName(stage))
        ws.mkdirs()
        checkoutInto(ws)
        return ws
    }

    static String safeName(String s) { s.replaceAll(/[^A-Za-z0-9._-]+/, '_') }

    Map<String, String> workspaceVars(File ws) {
        ws == null ? [:] : [WORKSPACE: ws.path, WORKSPACE_TMP: ws.path + '@tmp']
    }

    /** The workdir's tracked files (all files but .git when it is no git checkout), copied over. */
    void checkoutInto(File ws) {
        File src = cfg.workdir.absoluteFile
        List<String> files = []
        if (new File(src, '.git').exists()) {
            Process p = new ProcessBuilder('git', 'ls-files', '-z').directory(src).start()
            String text = p.inputStream.getText('UTF-8')
            if (p.waitFor() != 0) throw new JhHarnessError("git ls-files failed in ${src}")
            files = text.split('\u0000').findAll { it }
        } else {
            src.eachFileRecurse(groovy.io.FileType.FILES) { File f ->
                String rel = src.toPath().relativize(f.toPath()).toString()
                if (!rel.startsWith('.git/')) files << rel
            }
        }
        files.each { String rel -> JhGlob.copy(new File(src, rel), new File(ws, rel)) }
        log("checkout scm: ${files.size()} tracked file(s) into the agent workspace ${ws.path}")
    }

    void requireNode(String step) {
        if (nodeDepth == 0) {
            throw new JhStepFailure("Required context class hudson.FilePath is missing: step '${step}' needs an agent. " +
                    "Attempted to execute a step that requires a node context while 'agent none' was specified. " +
                    "Give the stage an agent { label '...' }.")
        }
    }

    // ---------------------------------------------------------------------------------------
    // when
    // ---------------------------------------------------------------------------------------

    boolean evalWhen(JhWhen parsed) {
        // Build the conditions again now, so `equals actual: params.X` or `environment value: "${env.Y}"`
        // see the values of this moment, not those of parse time.
        JhWhen w = JhWhenBlock._parse(parsed.source, parsed.where)
        for (JhCond c : w.conds) {
            if (!evalCond(c)) {
                log("when: ${c.describe()} is false")
                return false
            }
        }
        return true
    }

    boolean evalCond(JhCond c) {
        switch (c.type) {
            case 'branch':
                return JhGlob.matches(c.args.comparator?.toString(), c.args.pattern.toString(), envGet('BRANCH_NAME'))
            case 'tag':
                return envGet('TAG_NAME') != null &&
                        JhGlob.matches(c.args.comparator?.toString(), c.args.pattern.toString(), envGet('TAG_NAME'))
            case 'buildingTag':
                return envGet('TAG_NAME') != null
            case 'changeRequest':
                if (envGet('CHANGE_ID') == null) return false
                Map<String, String> fields = [id: 'CHANGE_ID', target: 'CHANGE_TARGET', branch: 'CHANGE_BRANCH', fork: 'CHANGE_FORK',
                                              url: 'CHANGE_URL', title: 'CHANGE_TITLE', author: 'CHANGE_AUTHOR',
                                              authorDisplayName: 'CHANGE_AUTHOR_DISPLAY_NAME', authorEmail: 'CHANGE_AUTHOR_EMAIL']
                return c.args.findAll { k, v -> k != 'comparator' }.every { k, v ->
                    JhGlob.matches(c.args.comparator?.toString() ?: 'EQUALS', v.toString(), envGet(fields[k]))
                }
            case 'environment':
                String actual = envGet(c.args.name.toString())
                String expected = c.args.value.toString()
                if (JhArgs.bool(c.args.ignoreCase)) { actual = actual?.toLowerCase(); expected = expected.toLowerCase() }
                return JhGlob.matches(c.args.comparator?.toString() ?: 'EQUALS', expected, actual)
            case 'equals':
                return c.args.expected == c.args.actual || c.args.expected?.toString() == c.args.actual?.toString()
            case 'triggeredBy':
                return causes().any { it._class.contains(c.args.cause.toString()) }
            case 'isRestartedRun':
                return false
            case 'expression':
                Object v = runSteps(c.expr)
                return v as boolean
            case 'not':
                return !evalCond(c.children[0])
            case 'anyOf':
                return c.children.any { evalCond(it) }
            case 'allOf':
                return c.children.every { evalCond(it) }
        }
        throw new IllegalStateException(c.type)
    }

    /** Build causes as Jenkins' class names (triggeredBy matches by substring of the class name). */
    List<Map> causes() {
        switch (cfg.cause) {
            case 'timer': return [[_class: 'hudson.triggers.TimerTrigger$TimerTriggerCause', shortDescription: 'Started by timer']]
            case 'manual': return [[_class: 'hudson.model.Cause$UserIdCause', shortDescription: 'Started by user mlgen', userId: 'mlgen']]
            default: return [[_class: 'jenkins.branch.BranchEventCause', shortDescription: 'Push event to branch'],
                             [_class: 'hudson.triggers.SCMTrigger$SCMTriggerCause', shortDescription: 'Started by an SCM change']]
        }
    }

    // ---------------------------------------------------------------------------------------
    // input
    // ---------------------------------------------------------------------------------------

    /** Approve (returns parameter values) or reject (ABORTED), as --approve/--reject say. */
    Map<String, Object> askInput(JhInput inp) {
        Map<String, Object> values = new LinkedHashMap<String, Object>()
        if (dryRun) return values
        log("Input requested: ${inp.message} [${inp.ok ?: 'Proceed'}]${inp.submitter ? " (submitter: ${inp.submitter})" : ''}")
        if (cfg.approve == null) {
            throw new JhHarnessError("an input asks '${inp.message}': run the harness with --approve or --reject")
        }
        waitForPerson()
        if (cfg.approve && !mayApprove(inp)) {
            // Jenkins offers Proceed only to the listed submitters (and administrators); nobody
            // else can approve, so the input is never approved and the build ends ABORTED.
            log("User '${cfg.approver}' may not approve: submitter is '${inp.submitter}'")
            throw new JhInterrupted("input '${inp.message}' not approved: '${cfg.approver}' is not a submitter", 'ABORTED', false, -1)
        }
        if (!cfg.approve) {
            log('Rejected by mlgen-harness (--reject)')
            throw new JhInterrupted("input '${inp.message}' rejected", 'ABORTED', false, -1)
        }
        log("Approved by ${cfg.approver ?: 'mlgen-harness'} (--approve)")
        inp.parameters.each { Map p -> values[p.name] = p.defaultValue }
        if (inp.submitterParameter) values[inp.submitterParameter] = cfg.approver ?: 'mlgen-harness'
        return values
    }

    /** `submitter`: user IDs or group names separated by ',', spaces trimmed; none set: anyone may. */
    boolean mayApprove(JhInput inp) {
        if (!inp.submitter || cfg.approver == null) return true
        return inp.submitter.split(',')*.trim().contains(cfg.approver)
    }

    /**
     * A person takes $MLGEN_HARNESS_INPUT_WAIT_MS to answer. Jenkins enters a stage's options
     * before its input, so the wait counts against an enclosing `timeout`: when it expires first,
     * the input ends ABORTED, as on Jenkins.
     */
    void waitForPerson() {
        String raw = globalEnv['MLGEN_HARNESS_INPUT_WAIT_MS']
        if (!raw) return
        if (!(raw ==~ /[0-9]+/)) throw new JhHarnessError("MLGEN_HARNESS_INPUT_WAIT_MS must be milliseconds, got '${raw}'")
        long until = System.currentTimeMillis() + (raw as long)
        log("Waiting ${raw} ms for a person to answer (MLGEN_HARNESS_INPUT_WAIT_MS)")
        while (System.currentTimeMillis() < until) {
            checkDeadline()
            Thread.sleep(Math.max(1L, Math.min(50L, until - System.currentTimeMillis())))
        }
        checkDeadline()
    }

    // ---------------------------------------------------------------------------------------
    // post
    // ---------------------------------------------------------------------------------------

    boolean conditionMet(String cond, String current) {
        String prev = cfg.previousResult
        switch (cond) {
            case 'always': case 'cleanup': return true
            case 'changed': return prev == null || prev != current
            case 'fixed': return prev in ['FAILURE', 'UNSTABLE'] && current == 'SUCCESS'
            case 'regression': return prev == 'SUCCESS' && current in ['FAILURE', 'UNSTABLE', 'ABORTED']
            case 'aborted': return current == 'ABORTED'
            case 'failure': return current == 'FAILURE'
            case 'success': return current == 'SUCCESS'
            case 'unstable': return current == 'UNSTABLE'
            case 'unsuccessful': return current != 'SUCCESS'
            case 'notBuilt': return current == 'NOT_BUILT'
        }
        throw new IllegalStateException(cond)
    }

    /**
     * Post conditions in Jenkins' order, each checked just before it would run (an `always`
     * that fails makes `failure` run). Stage post looks at the stage's result, pipeline post at
     * the build's. Returns the first error; the others still run.
     */
    Throwable runPost(JhPost post, JhStageRun run) {
        if (post == null) return null
        Throwable err = null
        JhPost.ORDER.each { String cond ->
            Closure c = post.blocks[cond]
            if (c == null) return
            String current = run != null ? (JhResult.worst(run.result, run.childResult) ?: 'SUCCESS') : (buildResult ?: 'SUCCESS')
            if (!conditionMet(cond, current)) return
            log("post ${cond}")
            if (run != null) run.post[cond] = 'passed'
            try {
                runSteps(c)
            } catch (JhHarnessError e) {
                throw e
            } catch (Throwable t) {
                if (run != null) run.post[cond] = 'failed'
                logError(t)
                if (run != null) { run.result = JhResult.worst(run.result, 'FAILURE'); run.errorMarked = true }
                buildResult = JhResult.worst(buildResult, 'FAILURE')
                if (err == null) err = t
                if (run == null && firstError == null) firstError = t
            }
        }
        return err
    }

    // ---------------------------------------------------------------------------------------
    // Steps support
    // ---------------------------------------------------------------------------------------

    Object runSteps(Closure body) {
        Closure c = body.rehydrate(steps, body.owner, body.thisObject)
        c.resolveStrategy = Closure.DELEGATE_FIRST
        if (!dryRun) checkDeadline()
        stepsDepth++
        try {
            return c.call()
        } finally {
            stepsDepth--
        }
    }

    File cwd() { cwdStack[-1] }

    File resolvePath(String path) {
        File f = new File(path)
        return f.absolute ? f : new File(cwd(), path)
    }

    File workspaceTmp() {
        File t = new File(cfg.workdir.absolutePath + '@tmp')
        t.mkdirs()
        return t
    }

    File newTempDir(String kind) {
        File d = new File(tmpRoot, "${kind}-${++tmpCounter}")
        d.mkdirs()
        return d
    }

    /** The `node` step (allowed in declarative steps and post): an agent for its body, at the workspace root. */
    Object nodeStep(String label, Closure body) {
        if (dryRun) return runSteps(body)
        String node = label ?: 'built-in'
        File ws = agentWorkspace()
        log("node ${label ? "'${label}'" : '(any)'}: running on ${node} in ${(ws ?: cfg.workdir).absolutePath}")
        nodeDepth++
        cwdStack << (ws ?: cfg.workdir.absoluteFile)
        try {
            return withOverlay([NODE_NAME: node, NODE_LABELS: node] + workspaceVars(ws)) { runSteps(body) }
        } finally {
            cwdStack.remove(cwdStack.size() - 1)
            nodeDepth--
        }
    }

    Object inDir(String path, Closure body) {
        if (dryRun) return runSteps(body)
        File d = resolvePath(path).canonicalFile
        log("dir ${path}")
        cwdStack << d
        try {
            return runSteps(body)
        } finally {
            cwdStack.remove(cwdStack.size() - 1)
        }
    }

    Object withEnvStep(List vars, Closure body) {
        Map<String, String> ov = new LinkedHashMap<String, String>()
        vars.each { Object entry ->
            String s = entry.toString()
            int eq = s.indexOf('=')
            if (eq <= 0) throw new JhStepFailure("withEnv: improperly formatted environment variable: ${s}")
            String k = s.substring(0, eq), v = s.substring(eq + 1)
            int plus = k.indexOf('+')
            if (plus > 0) {                                 // PATH+EXTRA=/x prepends to PATH
                String base = k.substring(0, plus)
                String cur = ov[base] ?: envGet(base)
                ov[base] = cur ? "${v}${File.pathSeparator}${cur}".toString() : v
            } else {
                ov[k] = v
            }
        }
        return withOverlay(ov) { runSteps(body) }
    }

    Object withCredentialsStep(List bindings, Closure body) {
        Map<String, String> ov = new LinkedHashMap<String, String>()
        List<File> files = []
        bindings.each { Object b ->
            if (!(b instanceof JhBinding)) throw new JhHarnessError("withCredentials: '${b}' is not a credentials binding")
            JhBinding bind = (JhBinding) b
            String id = bind.args.credentialsId.toString()
            String v = credential(id)
            switch (bind.type) {
                case 'string':
                case 'usernameColonPassword':
                    ov[bind.args.variable.toString()] = v
                    break
                case 'usernamePassword':
                    int colon = v.indexOf(':')
                    if (colon < 0 && !dryRun) {
                        throw new JhStepFailure("Credentials '${id}' is of type 'Secret text' where 'Username with password' was expected (pass --credential ${id}=user:password)")
                    }
                    ov[bind.args.usernameVariable.toString()] = dryRun ? v : v.substring(0, colon)
                    ov[bind.args.passwordVariable.toString()] = dryRun ? v : v.substring(colon + 1)
                    if (!dryRun && v.substring(colon + 1)) secrets << v.substring(colon + 1)
                    break
                case 'file':
                    if (dryRun) { ov[bind.args.variable.toString()] = '/dry-run/secret'; break }
                    requireNode('withCredentials file')
                    File f = new File(newTempDir('secretFiles'), id)
                    f.setText(v, 'UTF-8')
                    f.setReadable(false, false); f.setReadable(true, true)
                    files << f
                    ov[bind.args.variable.toString()] = f.absolutePath
                    break
            }
        }
        if (!dryRun) log("withCredentials: masking ${ov.keySet().join(', ')}")
        try {
            return withOverlay(ov) { runSteps(body) }
        } finally {
            files.each { it.delete() }
        }
    }

    /** Option wrappers pass plain closures (stepsBody false); steps pass a Jenkinsfile closure to run as steps. */
    Object runBody(Closure body, boolean stepsBody) { stepsBody ? runSteps(body) : body.call() }

    Object withLock(Map a, Closure body, boolean stepsBody) {
        List<String> res = []
        if (a.resource) res << a.resource.toString()
        if (a.label) res << "label:${a.label}".toString()
        (a.extra ?: []).each { Object e ->
            if (!(e instanceof Map) || !e.resource) throw new JhHarnessError("lock: extra entries must be [resource: '...']")
            res << e.resource.toString()
        }
        if (!res) throw new JhHarnessError('lock: needs a resource or a label')
        if (dryRun) return runBody(body, stepsBody)
        res.each { r ->
            // Lockable Resources would wait forever here: this build already holds it.
            if (locksHeld.contains(r)) throw new JhHarnessError("lock: '${r}' is already held by this build (a nested lock on it deadlocks)")
        }
        log("Trying to acquire lock on [${res.join(', ')}]")
        List<java.nio.channels.FileLock> shared = acquireShared(res)
        locksHeld.addAll(res)
        log("Lock acquired on [${res.join(', ')}]")
        Map<String, String> ov = [:]
        if (a.variable) {
            ov[a.variable.toString()] = res.join(',')
            res.eachWithIndex { String r, int i -> ov["${a.variable}${i}".toString()] = r }
        }
        try {
            return withOverlay(ov) { runBody(body, stepsBody) }
        } finally {
            locksHeld.removeAll(res)
            shared.each { it.release(); it.channel().close() }
            log("Lock released on resource [${res.join(', ')}]")
        }
    }

    /**
     * With --lock-dir, each resource is an OS file lock in that folder, so concurrently running
     * builds (separate processes) wait for each other as Lockable Resources makes builds wait.
     * Resources are taken in sorted order, so two builds locking the same set never deadlock.
     */
    List<java.nio.channels.FileLock> acquireShared(List<String> res) {
        if (cfg.lockDir == null) return []
        cfg.lockDir.mkdirs()
        return res.sort(false).collect { String r ->
            String file = r.replaceAll(/[^A-Za-z0-9_.-]/, '_') + '.' + Integer.toHexString(r.hashCode()) + '.lock'
            new RandomAccessFile(new File(cfg.lockDir, file), 'rw').channel.lock()
        }
    }

    Object withTimeout(long millis, Closure body, boolean stepsBody) {
        if (dryRun) return runBody(body, stepsBody)
        deadlines << (System.currentTimeMillis() + millis)
        try {
            return runBody(body, stepsBody)
        } finally {
            deadlines.remove(deadlines.size() - 1)
        }
    }

    /** Remaining time before the nearest timeout, and which one it is. */
    long remainingMillis() {
        if (!deadlines) return Long.MAX_VALUE
        return deadlines.min() - System.currentTimeMillis()
    }

    void checkDeadline() {
        if (deadlines && remainingMillis() <= 0) {
            int depth = deadlines.indexOf(deadlines.min())
            throw new JhInterrupted('Timeout has been exceeded', 'ABORTED', true, depth)
        }
    }

    Object withRetry(int count, JhStageRun run, Closure body, boolean stepsBody) {
        if (dryRun) return runBody(body, stepsBody)
        int n = Math.max(count, 1)
        for (int attempt = 1; ; attempt++) {
            int depth = deadlines.size()
            int savedRetries = run?.retriesLeft ?: 0
            if (run != null) run.retriesLeft = n - attempt
            try {
                return runBody(body, stepsBody)
            } catch (JhHarnessError e) {
                throw e
            } catch (Throwable t) {
                // An abort or a timeout from outside this retry is not retried; a timeout inside it is.
                boolean retryable = !(t instanceof JhInterrupted) || (((JhInterrupted) t).timeout && ((JhInterrupted) t).deadlineDepth >= depth)
                if (!retryable || attempt >= n) throw t
                logError(t)
                log("Retrying (attempt ${attempt + 1} of ${n})")
            } finally {
                if (run != null) run.retriesLeft = savedRetries
            }
        }
    }

    Object catchErrorStep(Closure body, String buildRes, String stageRes, String message, boolean catchInterruptions) {
        if (dryRun) return runSteps(body)
        try {
            return runSteps(body)
        } catch (JhHarnessError e) {
            throw e
        } catch (Throwable t) {
            if (t instanceof JhInterrupted && !catchInterruptions) throw t
            logError(t)
            if (message) log(message)
            if (buildRes && buildRes != 'SUCCESS') buildResult = JhResult.worst(buildResult, buildRes)
            if (stageRes && stageRes != 'SUCCESS' && stageStack) stageStack[-1].result = JhResult.worst(stageStack[-1].result, stageRes)
            return null
        }
    }

    void markUnstable(String message) {
        log(message)
        buildResult = JhResult.worst(buildResult, 'UNSTABLE')
        if (stageStack) stageStack[-1].result = JhResult.worst(stageStack[-1].result, 'UNSTABLE')
    }

    void sleepMillis(long ms) {
        long end = System.currentTimeMillis() + ms
        while (true) {
            checkDeadline()
            long left = Math.min(end - System.currentTimeMillis(), remainingMillis())
            if (end - System.currentTimeMillis() <= 0) return
            Thread.sleep(Math.max(1L, Math.min(left, 200L)))
        }
    }

    Object runSh(Map a) {
        JhArgs.check('sh', a, ['script', 'returnStdout', 'returnStatus', 'encoding', 'label'], ['script'])
        boolean rStdout = JhArgs.bool(a.returnStdout), rStatus = JhArgs.bool(a.returnStatus)
        if (dryRun) return rStdout ? '' : (rStatus ? 0 : null)
        if (rStdout && rStatus) throw new JhStepFailure('sh: you may not select both returnStdout and returnStatus')
        requireNode('sh')
        checkDeadline()
        Object scriptArg = a.script
        String body = scriptArg.toString()
        // Jenkins' warning when a secret went through Groovy interpolation instead of the environment.
        if (scriptArg instanceof GString) {
            List<String> leaked = ((GString) scriptArg).values.collect { String.valueOf(it) }.findAll { v -> secrets.any { s -> s && v.contains(s) } }
            if (leaked) {
                String w = 'A secret was passed to "sh" using Groovy String interpolation, which is insecure.'
                log("Warning: ${w}")
                warnings << "${prefix().trim()} ${w}".toString()
            }
        }
        File dir = cwd()
        dir.mkdirs()
        File scriptFile = new File(newTempDir('durable'), 'script.sh')
        scriptFile.setText(body, 'UTF-8')
        List<String> cmd
        if (body.startsWith('#!')) {                 // Jenkins runs a script with a shebang with that interpreter
            scriptFile.setExecutable(true)
            cmd = [scriptFile.absolutePath]
        } else {
            cmd = ['/bin/sh', '-xe', scriptFile.absolutePath]
        }
        log("sh${a.label ? " (${a.label})" : ''} in ${dir.path}")
        JhExec.Outcome o = JhExec.run(cmd, dir, processEnv(), rStdout, remainingMillis(), { String line -> log('| ' + line) })
        if (o.timedOut) {
            int depth = deadlines.indexOf(deadlines.min())
            throw new JhInterrupted('Timeout has been exceeded (sh was killed)', 'ABORTED', true, depth)
        }
        if (rStatus) return o.exitCode
        if (o.exitCode != 0) throw new JhStepFailure("script returned exit code ${o.exitCode}")
        return rStdout ? o.stdout : null
    }

    Object writeFileStep(String path, String text, String encoding) {
        if (dryRun) return null
        requireNode('writeFile')
        File f = resolvePath(path)
        f.parentFile.mkdirs()
        if (encoding == 'Base64') f.bytes = text.decodeBase64()
        else f.setText(text, encoding ?: 'UTF-8')
        return null
    }

    Object readFileStep(String path, String encoding) {
        if (dryRun) return ''
        requireNode('readFile')
        File f = resolvePath(path)
        if (!f.isFile()) throw new JhStepFailure("readFile: java.nio.file.NoSuchFileException: ${f.path}")
        return encoding == 'Base64' ? f.bytes.encodeBase64().toString() : f.getText(encoding ?: 'UTF-8')
    }

    /** Refuse to delete anything outside the workdir: this harness runs on developer machines. */
    void guardInsideWorkdir(File f, String step) {
        String ws = cfg.workdir.canonicalPath
        String p = f.canonicalPath
        String agents = cfg.agentWorkspaces?.canonicalPath
        boolean inAgents = agents != null && p.startsWith(agents + File.separator)
        if (!(p == ws || p.startsWith(ws + File.separator) || inAgents)) {
            throw new JhHarnessError("${step}: refusing to delete ${p}, which is outside the workdir ${ws}")
        }
    }

    Object deleteDirStep() {
        if (dryRun) return null
        requireNode('deleteDir')
        File d = cwd()
        guardInsideWorkdir(d, 'deleteDir')
        log("deleteDir ${d.path}")
        d.deleteDir()
        return null
    }

    Object cleanWsStep(Map a) {
        if (dryRun) return null
        requireNode('cleanWs')
        String r = buildResult ?: 'SUCCESS'
        Map<String, String> flag = [SUCCESS: 'cleanWhenSuccess', UNSTABLE: 'cleanWhenUnstable', FAILURE: 'cleanWhenFailure',
                                    NOT_BUILT: 'cleanWhenNotBuilt', ABORTED: 'cleanWhenAborted']
        if (!JhArgs.bool(a[flag[r]], true)) { log("cleanWs: skipped for a ${r} build"); return null }
        File ws = cfg.workdir.absoluteFile
        log("cleanWs ${ws.path}")
        ws.listFiles()?.each { File f -> f.isDirectory() && !Files.isSymbolicLink(f.toPath()) ? f.deleteDir() : f.delete() }
        return null
    }

    static final Pattern UNSAFE_STASH = ~/.*[?*\/\\%!@#$^&|<>\[\]:;].*/

    Object stashStep(Map a) {
        String name = a.name.toString()
        if (UNSAFE_STASH.matcher(name).matches() || name in ['.', '..'] || name.trim() != name || !name) {
            throw new JhStepFailure("stash: '${name}' is not a valid stash name")
        }
        if (dryRun) return null
        requireNode('stash')
        List<String> files = JhGlob.files(cwd(), a.includes, a.excludes, JhArgs.bool(a.useDefaultExcludes, true))
        if (!files && !JhArgs.bool(a.allowEmpty)) throw new JhStepFailure("No files included in stash '${name}'")
        File target = new File(stashRoot, name)
        target.deleteDir()
        target.mkdirs()
        files.each { JhGlob.copy(new File(cwd(), it), new File(target, it)) }
        log("Stashed ${files.size()} file(s) as '${name}'")
        return null
    }

    Object unstashStep(String name) {
        if (dryRun) return null
        requireNode('unstash')
        File src = new File(stashRoot, name)
        if (!src.isDirectory()) throw new JhStepFailure("No such saved stash '${name}'")
        List<String> files = JhGlob.files(src, '**', null, false)
        files.each { JhGlob.copy(new File(src, it), new File(cwd(), it)) }
        log("Unstashed ${files.size()} file(s) from '${name}'")
        return null
    }

    Object archiveStep(Map a) {
        if (dryRun) return null
        requireNode('archiveArtifacts')
        String r = buildResult ?: 'SUCCESS'
        if (JhArgs.bool(a.onlyIfSuccessful) && r != 'SUCCESS') {
            log('archiveArtifacts: skipped, the build is not successful')
            return null
        }
        List<String> files = JhGlob.files(cwd(), a.artifacts, a.excludes, JhArgs.bool(a.defaultExcludes, true),
                JhArgs.bool(a.caseSensitive, true))
        if (!files) {
            if (JhArgs.bool(a.allowEmptyArchive)) {
                log("archiveArtifacts: no artifacts found that match the file pattern \"${a.artifacts}\" (allowed)")
                return null
            }
            throw new JhStepFailure("No artifacts found that match the file pattern \"${a.artifacts}\". Configuration error?")
        }
        files.each { JhGlob.copy(new File(cwd(), it), new File(archiveRoot, it)); if (!artifacts.contains(it)) artifacts << it }
        log("Archived ${files.size()} artifact(s)${JhArgs.bool(a.fingerprint) ? ' (fingerprinted)' : ''}")
        return null
    }

    Object junitStep(Map a) {
        if (dryRun) return null
        requireNode('junit')
        List<String> files = JhGlob.files(cwd(), a.testResults, null, true)
        boolean allowEmpty = JhArgs.bool(a.allowEmptyResults)
        if (!files) {
            if (allowEmpty) { log("junit: no test report files were found matching '${a.testResults}' (allowed)"); return null }
            throw new JhStepFailure("No test report files were found. Configuration error? (pattern '${a.testResults}')")
        }
        int total = 0, failed = 0, skipped = 0
        files.each { String rel ->
            XmlSlurper slurper = new XmlSlurper(false, false)
            slurper.setFeature('http://apache.org/xml/features/nonvalidating/load-external-dtd', false)
            def root
            try {
                root = slurper.parse(new File(cwd(), rel))
            } catch (Exception e) {
                throw new JhStepFailure("junit: ${rel} is not valid XML: ${e.message}")
            }
            if (!(root.name() in ['testsuites', 'testsuite', 'testcase'])) {
                throw new JhStepFailure("junit: ${rel} is not a JUnit report (root <${root.name()}>)")
            }
            def cases = root.'**'.findAll { it.name() == 'testcase' }
            cases.each { tc ->
                total++
                if (tc.failure.size() > 0 || tc.error.size() > 0) {
                    failed++
                    log("junit: FAILED ${tc.@classname}.${tc.@name}")
                } else if (tc.skipped.size() > 0) {
                    skipped++
                }
            }
        }
        if (total == 0 && !allowEmpty) throw new JhStepFailure("None of the test reports contained any result (${files.join(', ')})")
        tests.total += total; tests.failed += failed; tests.skipped += skipped
        log("junit: ${files.size()} report(s), ${total} test(s), ${failed} failed, ${skipped} skipped")
        if (failed > 0 && !JhArgs.bool(a.skipMarkingBuildUnstable)) markUnstable("junit: ${failed} test failure(s): build UNSTABLE")
        return [totalCount: total, failCount: failed, skipCount: skipped, passCount: total - failed - skipped]
    }

    // ---------------------------------------------------------------------------------------
    // Static check of steps (run before executing, and for --parse-only)
    // ---------------------------------------------------------------------------------------

    /**
     * Jenkins validates a declarative pipeline's steps before running anything, so an unknown
     * step in a stage that `when` would skip still fails. This does the same by running every
     * steps/post/environment closure in dry mode: steps check their arguments and do nothing,
     * `script { }` bodies are not entered, unknown names read as placeholders.
     */
    void dryCheck() {
        dryRun = true
        List<Map<String, String>> savedOverlays = new ArrayList<Map<String, String>>(overlays)
        try {
            withEnvironmentBlock(model.environment, 'pipeline') {
                model.stages.each { dryStage(it) }
                dryPost(model.post)
            }
        } finally {
            dryRun = false
            overlays.clear()
            overlays.addAll(savedOverlays)
        }
    }

    void dryStage(JhStage s) {
        withOverlay([STAGE_NAME: s.name]) {
            withEnvironmentBlock(s.environment, "stage '${s.name}'") {
                if (s.steps != null) runSteps(s.steps)
                s.stages?.each { dryStage(it) }
                s.parallel?.each { dryStage(it) }
                if (s.matrix != null) {
                    Map<String, String> cell = s.matrix.cells()[0]
                    withOverlay(cell) {
                        withEnvironmentBlock(s.matrix.environment, "matrix of stage '${s.name}'") {
                            s.matrix.stages.each { dryStage(it) }
                            dryPost(s.matrix.post)
                        }
                    }
                }
                dryPost(s.post)
            }
        }
    }

    void dryPost(JhPost post) {
        post?.blocks?.values()?.each { runSteps(it) }
    }
}

// ============================================================================================
// main
// ============================================================================================

int exitCode
JhConfig cfg = null
try {
    cfg = JhConfig.parse(args)
    if (cfg.parseOnly) {
        int failures = 0
        cfg.jenkinsfiles.each { String path ->
            try {
                JhRunner r = new JhRunner(cfg, new File(path))
                r.initBuildEnv()
                r.load()
                r.initParams()
                r.dryCheck()
                println('MLGEN-PARSE ' + JsonOutput.toJson([jenkinsfile: path, ok: true, model: r.model.toJson()]))
            } catch (Throwable t) {
                failures++
                String msg = t instanceof JhHarnessError ? t.message : "${t.getClass().name}: ${t.message}"
                System.err.println("mlgen-jenkins-harness: ${path}: ${msg}")
                println('MLGEN-PARSE ' + JsonOutput.toJson([jenkinsfile: path, ok: false, error: msg]))
            }
        }
        exitCode = failures ? 4 : 0
    } else {
        JhRunner r = new JhRunner(cfg, new File(cfg.jenkinsfiles[0]))
        String result
        try {
            r.initBuildEnv()
            try {
                r.load()
            } catch (JhHarnessError e) {
                throw e
            } catch (Throwable t) {
                // The Jenkinsfile itself threw while being evaluated: Jenkins fails such a build.
                r.logError(t)
                println('MLGEN-RESULT ' + JsonOutput.toJson([result: 'FAILURE', stages: [], error: "${t.getClass().name}: ${t.message}"]))
                System.out.flush()
                System.exit(1)
            }
            r.initParams()
            r.dryCheck()
            println('MLGEN-MODEL ' + JsonOutput.toJson(r.model.toJson()))
            result = r.execute()
        } catch (JhHarnessError e) {
            System.out.flush()
            System.err.println("mlgen-jenkins-harness: error: ${e.message}")
            println('MLGEN-RESULT ' + JsonOutput.toJson(JhArgs.json([result: 'HARNESS_ERROR', stages: r.reports, error: e.message])))
            System.out.flush()
            System.exit(4)
        }
        r.log("Finished: ${result}")
        Map summary = [result   : result, stages: r.reports, artifacts: r.artifacts, tests: r.tests, warnings: r.warnings,
                       stash_dir: cfg.stashDir?.absolutePath]
        if (r.firstError != null) summary.error = r.mask(r.firstError.message ?: r.firstError.getClass().name)
        println('MLGEN-RESULT ' + JsonOutput.toJson(JhArgs.json(summary)))
        exitCode = JhResult.EXIT[result]
    }
} catch (JhHarnessError e) {
    System.err.println("mlgen-jenkins-harness: error: ${e.message}")
    exitCode = 4
} catch (Throwable t) {
    System.err.println("mlgen-jenkins-harness: internal error: ${t}")
    t.printStackTrace()
    exitCode = 4
}
System.out.flush()
System.exit(exitCode)
