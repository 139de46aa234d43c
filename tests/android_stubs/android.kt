@file:Suppress("unused", "UNUSED_PARAMETER")

package android.content

import java.io.File
import java.io.InputStream

open class Context {
    val filesDir: File get() = TODO()
    val assets: android.content.res.AssetManager get() = TODO()
}
